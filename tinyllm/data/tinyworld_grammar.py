"""The TinyWorld grammar: one function per document kind.

Each function writes a document through a *chooser* ``c`` that offers three calls:

- ``c.uniform(n) -> int``    a uniform choice among ``n`` options (adds ``-log n`` to the log-prob)
- ``c.weighted(probs) -> int`` a choice with the given probabilities (adds ``log probs[i]``)
- ``c.say(*tokens)``         emit word tokens (each one word or one punctuation mark)

and a dict ``c.meta`` for the document's structured fields. The same functions run in two modes:
sampling (``tinyworld.sample``) and replay (``tinyworld.exact_logprob``), which enumerates every
choice path that could have produced a given text. Every random choice made here is the whole
randomness of a document, so the log-probability the sampler accumulates is exact; the grammar is
written so that different paths give different texts (tests check it by enumeration).

Facts come from the fixed world ``w`` and are never random: "where does Anna live?" always has the
same answer in every document.
"""

from . import tinyworld_world as tw

KINDS = ("facts", "qa", "review", "dialogue", "translate", "story", "program", "math", "news")
KIND_WEIGHTS = (0.12, 0.10, 0.18, 0.10, 0.08, 0.10, 0.07, 0.07, 0.18)

_FOODS = tuple(tw.FOODS)
_ANIMALS = tuple(tw.ANIMALS)
_TOPICS = tuple(tw.NEWS)
_LABELS = ("positive", "negative")


def _two_distinct(c, n):
    """Two different indices below ``n``, uniform over ordered pairs: log-prob -log n(n-1)."""
    i = c.uniform(n)
    j = c.uniform(n - 1)
    return i, j + (j >= i)


def _person(c, w):
    return w.people[c.uniform(len(w.people))]


def _other_person(c, w, p):
    """Anyone but ``p``, uniformly."""
    b = c.uniform(len(w.people) - 1)
    return w.people[b + (b >= w.people.index(p))]


def _say_one(c, options):
    """Choose one option uniformly and write it at once (a word, or a tuple of words).

    Writing right after choosing keeps every choice visible in the text as early as possible,
    which is what lets ``tinyworld.parses`` prune wrong paths quickly.
    """
    x = options[c.uniform(len(options))]
    if isinstance(x, tuple):
        c.say(*x)
    else:
        c.say(x)
    return x


# ---------------------------------------------------------------------------------------- facts
def _fact_sentence(c, w):
    """One true sentence about a person, a town, an animal or a food."""
    t = c.uniform(9)
    if t < 6:
        p = _person(c, w)
        if t == 0:
            c.say(p.name, "lives", "in", p.city, ".")
        elif t == 1:
            c.say(p.name, "works", "as", tw.article(p.job), p.job, ".")
        elif t == 2:
            c.say(p.name, "has", tw.article(p.pet), p.pet, "as", "a", "pet", ".")
        elif t == 3:
            c.say(p.name, "likes", "to", "eat", p.food, ".")
        elif t == 4:
            c.say(p.name, "is", "a", "friend", "of", p.friend, ".")
        else:
            c.say(p.name, "comes", "from", w.country_of[p.city], ".")
    elif t == 6:
        city = tw.CITIES[c.uniform(len(tw.CITIES))]
        c.say(city, "is", "a", "town", "in", w.country_of[city], ".")
    elif t == 7:
        a = _ANIMALS[c.uniform(len(_ANIMALS))]
        c.say(tw.article(a), a, "says", tw.ANIMALS[a], ".")
    else:
        f = _FOODS[c.uniform(len(_FOODS))]
        c.say("the", "taste", "of", f, "is", tw.FOODS[f], ".")


def facts(c, w):
    """facts: three true sentences about people, towns, animals or foods."""
    c.say("facts", ":")
    for _ in range(3):
        _fact_sentence(c, w)


# ------------------------------------------------------------------------------------------- qa
def _question(c, w):
    """One question and its (deterministic) one-word answer, as token tuples."""
    t = c.uniform(9)
    if t < 6:
        p = _person(c, w)
        q, a = [
            (("where", "does", p.name, "live"), p.city),
            (("what", "is", "the", "job", "of", p.name), p.job),
            (("what", "pet", "does", p.name, "have"), p.pet),
            (("what", "does", p.name, "like", "to", "eat"), p.food),
            (("who", "is", "the", "friend", "of", p.name), p.friend),
            (("which", "country", "is", p.name, "from"), w.country_of[p.city]),
        ][t]
    elif t == 6:
        city = tw.CITIES[c.uniform(len(tw.CITIES))]
        q, a = ("in", "which", "country", "is", city), w.country_of[city]
    elif t == 7:
        an = _ANIMALS[c.uniform(len(_ANIMALS))]
        q, a = ("what", "does", tw.article(an), an, "say"), tw.ANIMALS[an]
    else:
        f = _FOODS[c.uniform(len(_FOODS))]
        q, a = ("how", "do", f, "taste"), tw.FOODS[f]
    return q, a


def qa(c, w):
    """question: ... ? answer: WORD . (twice). Fields: pairs of (question, answer)."""
    pairs = []
    for _ in range(2):
        q, a = _question(c, w)
        c.say("question", ":", *q, "?", "answer", ":", a, ".")
        pairs.append((" ".join(q) + "?", a))
    c.meta["fields"] = {"pairs": pairs, "question": pairs[0][0], "answer": pairs[0][1]}


# --------------------------------------------------------------------------------------- review
def review(c, w):
    """review: a movie or a meal, positive or negative; sentiment carried by several words.

    Fields: label ("positive"/"negative"), topic ("movie"/"food"), subject.
    """
    label = _LABELS[c.uniform(2)]  # hidden: it shows only through the words chosen below
    adjectives = tw.POSITIVE if label == "positive" else tw.NEGATIVE
    movie = c.uniform(2) == 0
    c.say("review", ":", "I")
    if movie:
        c.say("watched", "The")
        subject = ("The", _say_one(c, tw.TITLE_FIRST), _say_one(c, tw.TITLE_SECOND))
        aspects, endings = tw.MOVIE_ASPECTS, tw.MOVIE_ENDINGS[label]
    else:
        c.say("ate")
        subject = (_say_one(c, _FOODS),)
        c.say("at", "a", "cafe", "in")
        _say_one(c, tw.CITIES)
        aspects, endings = tw.FOOD_ASPECTS, tw.FOOD_ENDINGS[label]
    c.say("on")
    _say_one(c, tw.DAYS)
    c.say(".", "the")
    i, j = _two_distinct(c, len(aspects))
    c.say(aspects[i], "was")
    _say_one(c, adjectives)
    c.say("and", "the", aspects[j], "was")
    _say_one(c, adjectives)
    c.say(".")
    _say_one(c, endings)
    c.say(".")
    c.meta["label"] = label
    c.meta["fields"] = {"label": label, "topic": "movie" if movie else "food",
                        "subject": " ".join(subject)}


# ------------------------------------------------------------------------------------- dialogue
def dialogue(c, w):
    """dialogue: two people greet, one asks the other a question about themself, they part."""
    p = _person(c, w)
    c.say("dialogue", ":", p.name, ":")
    _say_one(c, tw.GREETINGS)
    q = _other_person(c, w, p)
    c.say(q.name, "!", q.name, ":", "hi", p.name, ",", "I", "am")
    _say_one(c, tw.MOODS)
    c.say(".", p.name, ":")
    t = c.uniform(5)
    question, answer = [
        (("where", "do", "you", "live"), ("I", "live", "in", q.city)),
        (("what", "do", "you", "do"), ("I", "am", tw.article(q.job), q.job)),
        (("do", "you", "have", "a", "pet"), ("yes", ",", "I", "have", tw.article(q.pet), q.pet)),
        (("what", "do", "you", "like", "to", "eat"), ("I", "like", q.food)),
        (("who", "is", "your", "friend"), ("my", "friend", "is", q.friend)),
    ][t]
    c.say(*question, "?", q.name, ":", *answer, ".", p.name, ":")
    _say_one(c, tw.CLOSINGS)
    c.say(".")
    c.meta["fields"] = {"speakers": (p.name, q.name), "question": " ".join(question) + "?",
                        "answer": " ".join(answer)}


# ------------------------------------------------------------------------------------ translate
def translate(c, w):
    """translate: an English sentence and its toy-language version (word for word, adjective
    after its noun, "the" -> "ka"). Fields: source, target."""
    toy = w.toy
    c.say("translate", ":")
    if c.uniform(2) == 0:
        c.say("the")
        colour = _say_one(c, tw.COLOURS)
        animal = _say_one(c, _ANIMALS)
        verb = _say_one(c, tw.TRANSLATE_VERBS)
        c.say("the")
        colour2 = _say_one(c, tw.COLOURS)
        animal2 = _say_one(c, _ANIMALS)
        source = ("the", colour, animal, verb, "the", colour2, animal2)
        target = ("ka", toy[animal], toy[colour], toy[verb], "ka", toy[animal2], toy[colour2])
    else:
        p = _person(c, w)
        c.say(p.name)
        verb = _say_one(c, tw.TRANSLATE_VERBS)
        c.say("the")
        colour = _say_one(c, tw.COLOURS)
        animal = _say_one(c, _ANIMALS)
        source = (p.name, verb, "the", colour, animal)
        target = (p.name, toy[verb], "ka", toy[animal], toy[colour])
    c.say(".", "toy", ":", *target, ".")
    c.meta["fields"] = {"source": " ".join(source), "target": " ".join(target)}


# ---------------------------------------------------------------------------------------- story
def story(c, w):
    """story: a short paragraph, then "summary:" and one sentence that sums it up.

    Fields: paragraph (the story without its summary), summary.
    """
    p = _person(c, w)
    c.say("story", ":", p.name, "went", "to", "the")
    place = _say_one(c, tw.PLACES)
    c.say("in")
    city = _say_one(c, tw.CITIES)
    c.say("on")
    day = _say_one(c, tw.DAYS)
    c.say(".", "there", p.subject)
    action = _say_one(c, tw.STORY_ACTIONS)
    colour = tw.COLOURS[c.uniform(len(tw.COLOURS))]
    c.say(tw.article(colour), colour)
    obj = _say_one(c, tw.OBJECTS)
    c.say(".", "later", p.subject, "gave", "the", obj, "to")
    q = _other_person(c, w, p)
    c.say(q.name, ".")
    summary = (p.name, "gave", q.name, tw.article(obj), obj)
    c.say("summary", ":", *summary, ".")
    paragraph = (f"{p.name} went to the {place} in {city} on {day}. there {p.subject} {action} "
                 f"{tw.article(colour)} {colour} {obj}. later {p.subject} gave the {obj} to "
                 f"{q.name}.")
    c.meta["fields"] = {"paragraph": paragraph, "summary": " ".join(summary) + "."}


# -------------------------------------------------------------------------------------- program
def program(c, w):
    """program: a three-line program in a tiny language, then its output."""
    c.say("program", ":")
    t = c.uniform(3)
    if t < 2:
        i, j = _two_distinct(c, len(tw.PROGRAM_VARS))
        u, v = tw.PROGRAM_VARS[i], tw.PROGRAM_VARS[j]
        x = c.uniform(10)
        c.say(u, "=", str(x), ";", v, "=")
        if t == 0:
            c.say(u, "+")
            y = c.uniform(10)
            c.say(str(y), ";", "print", v, ".")
        else:
            y = c.uniform(10)
            c.say(str(y), ";", "print", u, "+", v, ".")
        out = x + y
    else:
        u = _say_one(c, tw.PROGRAM_VARS)
        c.say("=", "0", ";", "repeat")
        x = 2 + c.uniform(2)
        c.say(str(x), "times", ":", u, "=", u, "+")
        y = c.uniform(10)
        c.say(str(y), ";", "print", u, ".")
        out = x * y
    c.say("output", ":", str(out), ".")
    c.meta["fields"] = {"output": str(out)}


# ----------------------------------------------------------------------------------------- math
def math(c, w):
    """math: three single-digit sums or differences with their results."""
    c.say("math", ":")
    problems = []
    for _ in range(3):
        x = c.uniform(10)
        c.say(str(x))
        if c.uniform(2) == 0:
            y = c.uniform(10)
            sign, z = "+", x + y
        else:
            y = c.uniform(x + 1)
            sign, z = "-", x - y
        c.say(sign, str(y), "=", str(z), ".")
        problems.append((f"{x} {sign} {y}", str(z)))
    c.meta["fields"] = {"problems": problems}


# ----------------------------------------------------------------------------------------- news
def news(c, w):
    """news: a one-sentence report and a reaction; the topic shows in many words.

    Fields: label (the topic).
    """
    topic = _TOPICS[c.uniform(len(_TOPICS))]  # hidden: it shows through the words below
    words = tw.NEWS[topic]
    c.say("news", ":", "in")
    _say_one(c, tw.CITIES)
    c.say("on")
    _say_one(c, tw.DAYS)
    c.say(",")
    _say_one(c, words["subjects"])
    _say_one(c, words["verbs"])
    _say_one(c, words["objects"])
    c.say(".")
    _say_one(c, tw.NEWS_WITNESSES)
    c.say("said", "it", "was")
    _say_one(c, words["adjectives"])
    c.say(".")
    c.meta["label"] = topic
    c.meta["fields"] = {"label": topic}


GENERATORS = (facts, qa, review, dialogue, translate, story, program, math, news)


def document(c, w):
    """A whole document: the kind (weighted by KIND_WEIGHTS), then that kind's grammar."""
    k = c.weighted(KIND_WEIGHTS)
    c.meta["kind"] = KINDS[k]
    GENERATORS[k](c, w)
