"""Knowledge extraction (article §3.4, §6): text -> (subject, relation, object) triples, and probing.

Two measurements of what a model knows, on the world's fixed facts (``world_facts``):

- **Extraction from text** (precision, recall, F1). The input is a test-split ``facts`` document.
  For every entity the text mentions, the model is asked each question that applies to it, with the
  text as the document before the question (``[BOS] text [EOS] [BOS] question: ... answer:``,
  reading comprehension as a prompt); a triple (entity, relation, answer) is extracted when the
  answer is a word of the relation's kind (a town for "lives in") and occurs in the text. Gold
  is the set of triples the text states (its sentences parsed with ``parse_fields``). The model may
  answer from memory instead of from the text, which the numbers show: ``precision_world`` counts
  the extracted triples that are true in the world, stated in the text or not.
- **LAMA-style cloze probing** (P@1). Each fact becomes a sentence with its object hidden, "Anna
  lives in ___ ."; P@1 is the fraction of facts whose most likely token over the whole vocabulary is
  the object. A GPT reads the sentence up to the blank (every object here sits right after the
  prefix); a BERT, where given, fills a [MASK] with the sentence on both sides.
"""

import numpy as np

from tinyllm.apps.base import AppResult, Example, check_n, complete, default_model, load, test_documents
from tinyllm.apps.metrics import precision_at_1, precision_recall_f1
from tinyllm.prompt.parse import parse_answer, parse_fields

# relation -> (the facts sentence that states it, the question that asks for its object)
RELATIONS = {
    "lives_in": ("{s} lives in {o}.", "where does {s} live?"),
    "job": ("{s} works as {a} {o}.", "what is the job of {s}?"),
    "pet": ("{s} has {a} {o} as a pet.", "what pet does {s} have?"),
    "food": ("{s} likes to eat {o}.", "what does {s} like to eat?"),
    "friend": ("{s} is a friend of {o}.", "who is the friend of {s}?"),
    "country": ("{s} comes from {o}.", "which country is {s} from?"),
    "town_in": ("{s} is a town in {o}.", "in which country is {s}?"),
    "sound": ("{a} {s} says {o}.", "what does {a} {s} say?"),
    "taste": ("the taste of {s} is {o}.", "how do {s} taste?"),
}
PERSON_RELATIONS = ("lives_in", "job", "pet", "food", "friend", "country")


def world_facts():
    """Every fact of TinyWorld as a (subject, relation, object) triple (32 x 6 + 16 + 16 + 30)."""
    from tinyllm.data import tinyworld
    from tinyllm.data import tinyworld_world as tw

    w = tinyworld.world()
    facts = []
    for p in w.people:
        facts += [(p.name, "lives_in", p.city), (p.name, "job", p.job), (p.name, "pet", p.pet),
                  (p.name, "food", p.food), (p.name, "friend", p.friend),
                  (p.name, "country", w.country_of[p.city])]
    facts += [(c, "town_in", w.country_of[c]) for c in tw.CITIES]
    facts += [(a, "sound", s) for a, s in tw.ANIMALS.items()]
    facts += [(f, "taste", t) for f, t in tw.FOODS.items()]
    return facts


def _fill(pattern, s, o=None):
    from tinyllm.data.tinyworld_world import article

    a = article(o if pattern.startswith("{s} works") or pattern.startswith("{s} has") else s)
    if o is None:
        return pattern.replace("{a}", a).replace("{s}", s)
    return pattern.format(s=s, o=o, a=a)


def stated_triples(text):
    """The triples a facts document states: each sentence parsed against the RELATIONS sentences."""
    body = text.split(":", 1)[1] if text.startswith("facts:") else text
    triples = set()
    for sentence in [s.strip() + "." for s in body.split(".") if s.strip()]:
        for relation, (pattern, _) in RELATIONS.items():
            f = parse_fields(sentence, pattern)
            if f is not None and " " not in f["s"] and " " not in f["o"]:
                triples.add((f["s"], relation, f["o"]))
                break
    return triples


def _entities(text):
    """Entities the text mentions, each with the relations that can be asked about it."""
    from tinyllm.data import tinyworld
    from tinyllm.data import tinyworld_world as tw
    from tinyllm.data.word_tokenizer import split_words

    people = tinyworld.world().person
    kinds = {**{p: PERSON_RELATIONS for p in people}, **{c: ("town_in",) for c in tw.CITIES},
             **{a: ("sound",) for a in tw.ANIMALS}, **{f: ("taste",) for f in tw.FOODS}}
    seen = []
    for word in split_words(text):
        if word in kinds and word not in seen:
            seen.append(word)
    return [(e, kinds[e]) for e in seen]


def object_choices():
    """relation -> the words its object can be (result parsing accepts only those, §3.2 step 4)."""
    from tinyllm.data import tinyworld_world as tw

    return {"lives_in": tw.CITIES, "job": tw.JOBS, "pet": tw.PET_ANIMALS, "food": tuple(tw.FOODS),
            "friend": tw.FEMALE_NAMES + tw.MALE_NAMES, "country": tw.COUNTRIES, "town_in": tw.COUNTRIES,
            "sound": tuple(tw.ANIMALS.values()), "taste": tuple(sorted(set(tw.FOODS.values())))}


def extract(model, tok, text):
    """(triples, examples): the triples the model extracts from ``text`` by answering questions.

    The text comes first as a document of its own, then the question (``base.frame``); an answer
    counts only when it is a word of the relation's object class (``parse_answer`` with choices)
    and occurs in the text.
    """
    words = set(text.replace(".", " ").split())
    choices = object_choices()
    triples, examples = set(), []
    for entity, relations in _entities(text):
        for relation in relations:
            question = _fill(RELATIONS[relation][1], entity)
            prompt = f"question: {question} answer:"
            output = complete(model, tok, prompt, max_new_tokens=4, context=[text])
            answer = parse_answer(output, choices=choices[relation])
            if answer in words and answer != entity:
                triples.add((entity, relation, answer))
            examples.append((prompt, output, answer))
    return triples, examples


def cloze_gpt(model, tok, facts):
    """The most likely next token after each fact's sentence prefix (``facts:`` document style)."""
    out = []
    for s, relation, o in facts:
        pattern = RELATIONS[relation][0]
        prefix = _fill(pattern, s, o)[: _fill(pattern, s, o).index(f" {o}")]
        ids = [tok.bos_id] + list(tok.encode(f"facts: {prefix}"))
        logits = model.forward(np.array([ids]))[0, -1]                          # (V,)
        out.append((f"facts: {prefix} ___", tok.id_to_token(int(np.argmax(logits)))))
    return out


def cloze_bert(model, tok, facts):
    """BERT's most likely token at the [MASK] standing for each fact's object."""
    out = []
    for s, relation, o in facts:
        sentence = _fill(RELATIONS[relation][0], s, o)
        before, after = sentence.split(f" {o}", 1)
        ids = ([tok.cls_id] + list(tok.encode(f"facts: {before}")) + [tok.mask_id]
               + list(tok.encode(after)) + [tok.sep_id])
        at = ids.index(tok.mask_id)
        logits = model.forward(np.array([ids]))[0, at]                          # (V,)
        out.append((f"[CLS] facts: {before} [MASK]{after} [SEP]", tok.id_to_token(int(np.argmax(logits)))))
    return out


def run(model=None, n=100, seed=0, bert="auto"):
    """Triple extraction on ``n`` test facts documents and cloze P@1 on ``n`` world facts.

    ``bert``: a BERT for the cloze probe too (a zoo name, a folder or a (model, tokenizer) pair);
    "auto" takes the zoo's TinyWorld BERT of the same family, None skips it.
    """
    n = check_n(n)
    net, tok, name = load(model)
    facts = world_facts()
    true = set(facts)
    examples, predicted, gold = [], [], []
    for d in test_documents("facts", n, seed):
        triples, asked = extract(net, tok, d.text)
        stated = stated_triples(d.text)
        predicted.append(triples)
        gold.append(stated)
        examples.append(Example(f"{d.text} question: ... answer: ({len(asked)} questions)",
                                "; ".join(f"{p.split('question: ')[1]} {o}" for p, o, _ in asked[:3]),
                                sorted(triples), sorted(stated), triples == stated, "extraction"))
    metrics = {f"triple_{k}": v for k, v in precision_recall_f1(predicted, gold).items()}
    extracted = [t for ts in predicted for t in ts]
    metrics["precision_world"] = sum(t in true for t in extracted) / len(extracted) if extracted else 0.0
    rng = np.random.default_rng(seed)
    probe = [facts[i] for i in rng.permutation(len(facts))[: min(n, len(facts))]]
    gold_objects = [o for _, _, o in probe]
    probes = [("cloze_gpt", cloze_gpt(net, tok, probe))]
    if bert == "auto":
        bert = default_model("bert")
    if bert is not None:
        bert_net, bert_tok, _ = load(bert, kind="bert")
        probes.append(("cloze_bert", cloze_bert(bert_net, bert_tok, probe)))
    for group, answers in probes:
        for (prompt, top), g in zip(answers, gold_objects):
            examples.append(Example(prompt, top, top, g, top == g, group))
        metrics[f"p_at_1_{group.split('_')[1]}"] = precision_at_1([t for _, t in answers], gold_objects)
    metrics["n"] = n
    return AppResult("knowledge", name, "triple_f1", metrics["triple_f1"], metrics, examples)
