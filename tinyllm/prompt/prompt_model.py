"""PromptModel: a language model, a template and a verbalizer -> P(y | x, t; theta) (E2.2).

    y* = argmax_y P(y | x, t; theta),   P(y | x, t) = softmax_y S(y),   S(y) = combine_w s(v_w)   (E2.2, S11)

where s(v) is the log-probability of label word v at the template's answer slot (verbalizer.py).
The same object serves every prompt-learning method of the article:

- manual prompts (a hard template): zero-shot scoring, in-context demonstrations (demonstrations.py);
- PET (no soft slot, no peft): ``loss_and_grads`` differentiates the model's weights, which ``fit``
  trains (pet.py);
- soft prompts (S12): ``{soft...}`` slots in the template and/or a ``peft`` config (PromptTuningConfig,
  PrefixTuningConfig, PromptEncoderConfig): the model is frozen and only ``prompt_params`` train;
- automatic prompts (S13): ``{trigger*N}`` slots, searched by ``autoprompt`` (autoprompt.py).

Sequences (one row per distinct scoring context, right-padded, attention_mask marks the tokens):

    GPT:   [virtual] [BOS] t(x) up to {mask}, then v_1 .. v_{K-1}      (teacher forcing, one forward)
    BERT:  [virtual] [CLS] t(x) with K [MASK]s at {mask} [SEP]
    with demonstrations: GPT  [BOS] demo [EOS] ... [BOS] query;  BERT  [CLS] query [SEP] demo [SEP] ...

``[virtual]`` are a PromptTuning/P-tuning module's vectors when the template has no ``{soft}`` slots
of the same count (PEFT's placement); a prefix (PrefixTuning) enters every layer as keys/values.
A text too long for the context loses tokens from the end of its field (``x`` first); a template that
does not fit even with an empty input is a ValueError.
"""

import numpy as np

from tinyllm.models.bert import BERT
from tinyllm.models.gpt import GPT
from tinyllm.prompt.template import Template, encode_strict, encode_text
from tinyllm.prompt.verbalizer import Verbalizer

SOFT, TRIGGER = "template.soft", "template.trigger"
_KV_ROWS = 1 << 15         # cached positions (rows x length) repeated at once when label words continue


class NonFiniteError(ValueError, FloatingPointError):
    """A prompt parameter (or the loss) became NaN or infinite."""


class PromptModel:
    """Score labels through a prompt (E2.2). See the module docstring.

    >>> pm = PromptModel(gpt, tok, "{x} it was {mask} .", {"neg": ["awful"], "pos": ["great"]})
    >>> pm.predict_proba(["the soup was cold"])          # (1, 2), rows sum to 1
    >>> loss, grads = pm.loss_and_grads(texts, labels)   # grads keyed like pm.prompt_params
    """

    def __init__(self, model, tokenizer, template, verbalizer, peft=None, seed=0, batch_size=32):
        if hasattr(model, "num_labels"):
            raise TypeError(f"model must be a language model (GPT or BERT with its MLM head), not a classifier "
                            f"({type(model).__name__}): prompts score label words with the LM head")
        if isinstance(model, GPT):
            self.kind = "gpt"
        elif isinstance(model, BERT):
            model._require_head("PromptModel")
            self.kind = "bert"
        else:
            raise TypeError(f"model must be a tinyllm GPT or BERT (with its MLM head), got {type(model).__name__}")
        if not all(hasattr(tokenizer, a) for a in ("encode", "vocab_size", "token_to_id")):
            raise TypeError(f"tokenizer must be a tinyllm tokenizer (the model's own), got {type(tokenizer).__name__}")
        if tokenizer.vocab_size != model.config.vocab_size:
            raise ValueError(f"tokenizer has {tokenizer.vocab_size} tokens but the model's vocab_size is "
                             f"{model.config.vocab_size}: use the model's own tokenizer")
        self.model, self.tokenizer, self.seed = model, tokenizer, int(seed)
        self.batch_size = _positive_int(batch_size, "batch_size")
        self.template = Template(template)
        if not self.template.has_mask:
            raise ValueError(f"template {self.template.text!r} has no {{mask}}: add {{mask}} where the label "
                             "word goes (e.g. '{x} it was {mask} .')")
        self.verbalizer = verbalizer if isinstance(verbalizer, Verbalizer) else Verbalizer(verbalizer, tokenizer)
        self._framing()
        counted = sum(p[1] or 0 for p in self.template.parts if p[0] in ("soft", "trigger"))
        if counted >= model.config.max_len:     # checked before compile() builds a list of that length
            raise ValueError(f"template {self.template.text!r} asks for {counted:,} soft or trigger vectors, "
                             f"more than fit in the model's context max_len={model.config.max_len}")
        pieces, soft_init = self.template.compile(tokenizer)
        k = next(i for i, p in enumerate(pieces) if p[0] == "mask")
        self._before, self._after = pieces[:k], pieces[k + 1:]
        self._rng = np.random.default_rng([self.seed, 2])     # dropout when the model is in training mode
        self.peft_config, self.peft = peft, None
        self.prompt_params = {}
        n_soft = len(soft_init)
        if peft is not None:
            from tinyllm.prompt.peft import make_peft
            self.peft = make_peft(peft, model, tokenizer, seed=self.seed, init_ids=self._peft_init_ids(peft))
            self.prompt_params.update(self.peft.params)
        # the module's vectors fill the template's {soft} slots when the counts agree (else go first)
        self._peft_in_slots = (self.peft is not None and self.peft.kind == "embeds"
                               and n_soft == self.peft.num_virtual_tokens)
        if n_soft and not self._peft_in_slots:
            self.prompt_params[SOFT] = self._init_soft(soft_init)
        self.trigger_ids = []
        if self.template.num_triggers:
            self.trigger_ids = [self._default_trigger()] * self.template.num_triggers
            self.prompt_params[TRIGGER] = model.params["tok_emb"][self.trigger_ids].copy()   # (N, C)
        self.n_soft, self.n_trig = n_soft, len(self.trigger_ids)
        self.n_virtual = (self.peft.num_virtual_tokens
                          if self.peft is not None and self.peft.kind == "embeds" and not self._peft_in_slots else 0)
        self._has_prefix = self.peft is not None and self.peft.kind == "past_kv"
        self.frozen = bool(self.prompt_params)
        if not self.frozen:
            self.prompt_params = model.params                  # PET: the model's weights train

    # ------------------------------------------------------------ setup helpers

    def _framing(self):
        tok = self.tokenizer
        if self.kind == "gpt":
            self._start = [] if tok.bos_id is None else [tok.bos_id]
            self._end = []
            self._demo_end = [] if tok.eos_id is None else [tok.eos_id]
        else:
            for name in ("cls_id", "sep_id", "mask_id"):
                if getattr(tok, name) is None:
                    raise ValueError(f"a BERT prompt needs the tokenizer's {name[:-3].upper()} token")
            self._start, self._end, self._demo_end = [tok.cls_id], [tok.sep_id], [tok.sep_id]

    def _peft_init_ids(self, peft):
        init = getattr(peft, "init", None)
        if init == "text":
            text = getattr(peft, "init_text", None)
            if not text:
                raise ValueError("PromptTuningConfig(init='text') needs init_text, e.g. init_text='it was'")
            return encode_strict(self.tokenizer, text, "init_text")
        if init == "labels":
            return [w[0] for ids in self.verbalizer.word_ids for w in ids]
        return None

    def _init_soft(self, soft_init):
        """Soft vectors (S12): a {soft:words} vector starts as its word's embedding (so step 0 equals
        the hard template exactly); the others are N(0, std of the embedding table)."""
        E = self.model.params["tok_emb"]
        rng = np.random.default_rng([self.seed, 3])
        P = (rng.standard_normal((len(soft_init), E.shape[1])) * E.std()).astype(self.model.dtype)
        for j, i in enumerate(soft_init):
            if i is not None:
                P[j] = E[i]
        return P                                               # (n_soft, C)

    def _default_trigger(self):
        tok = self.tokenizer
        try:
            return tok.token_to_id("the")
        except ValueError:
            return next(i for i in range(tok.vocab_size) if i not in tok.special_ids)

    def set_triggers(self, ids):
        """Set the {trigger} tokens (S13) to `ids`; their embeddings follow the model's table."""
        ids = self.tokenizer.check_ids(ids, "trigger ids")
        if len(ids) != self.n_trig:
            raise ValueError(f"the template has {self.n_trig} trigger slots, got {len(ids)} ids")
        self.trigger_ids = ids
        self.prompt_params[TRIGGER][...] = self.model.params["tok_emb"][ids]

    def __repr__(self):
        what = "PET: the model trains" if not self.frozen else f"prompt params {sorted(self.prompt_params)}"
        return (f"PromptModel({type(self.model).__name__}, {self.template.text!r}, labels "
                f"{self.verbalizer.label_names}, {what})")

    # ------------------------------------------------------------ public face

    @property
    def num_labels(self):
        return self.verbalizer.num_labels

    def label_scores(self, texts, demonstrations=None):
        """The label scores S(y) (S11): each label's words' log-probabilities at the answer slot,
        combined by the verbalizer -> (N, num_labels), in evaluation mode (no dropout)."""
        inputs = self._inputs(texts)
        training, self.model.training = self.model.training, False
        try:
            score = self._gpt_scores_shared if self.kind == "gpt" else (lambda *a: self._scores(*a)[0])
            out = [score(inputs[i:i + self.batch_size], demonstrations)
                   for i in range(0, len(inputs), self.batch_size)]
        finally:
            self.model.training = training
        return np.concatenate(out)

    def answer_log_probs(self, texts, demonstrations=None):
        """log P(w | t(x)) of every vocabulary token w at the answer slot (its first token) -> (N, V),
        in evaluation mode: what label_search ranks words by."""
        inputs = self._inputs(texts)
        demo = self._demo_ids(demonstrations)
        training, self.model.training = self.model.training, False
        out = []
        try:
            for i in range(0, len(inputs), self.batch_size):
                rows, at = [], []
                for n, fields in enumerate(inputs[i:i + self.batch_size]):
                    r, t = self._example_rows(fields, demo, f"texts[{i + n}]", words=[[0]])
                    at.append((len(rows), t[0][1]))
                    rows.extend(r)
                codes, attn = self._pad(rows)
                logits, _ = self._model_forward(codes, attn, np.asarray(at, np.int64))
                out.append(_log_softmax(logits))
        finally:
            self.model.training = training
        return np.concatenate(out)

    def predict_proba(self, texts, demonstrations=None):
        """P(y | x, t) = softmax_y S(y) (E2.2) for every input -> (N, num_labels), rows sum to 1."""
        return _softmax(self.label_scores(texts, demonstrations))

    def predict(self, texts, demonstrations=None):
        """y* = argmax_y P(y | x, t) (E2.2) -> (N,) int."""
        return self.predict_proba(texts, demonstrations).argmax(axis=1)

    def loss(self, texts, labels, demonstrations=None):
        """Mean cross-entropy -log P(y | x, t) over the examples (the model's current mode)."""
        inputs, labels = self._inputs(texts), self._labels(labels, len(texts))
        total = 0.0
        for i in range(0, len(inputs), self.batch_size):
            S, _ = self._scores(inputs[i:i + self.batch_size], demonstrations)
            total += float(-_log_softmax(S)[np.arange(len(S)), labels[i:i + self.batch_size]].sum())
        return total / len(inputs)

    def loss_and_grads(self, texts, labels, demonstrations=None):
        """(mean cross-entropy over the label scores, grads) with exactly the keys of ``prompt_params``.

        Frozen model (soft slots, triggers, peft): gradients of the prompt only, no weight gradient is
        computed. PET: gradients of every model weight (the softmax restricted to the label words)."""
        inputs, labels = self._inputs(texts), self._labels(labels, len(texts))
        N, total, grads = len(inputs), 0.0, None
        for i in range(0, N, self.batch_size):
            S, cache = self._scores(inputs[i:i + self.batch_size], demonstrations)
            y = labels[i:i + self.batch_size]
            logp = _log_softmax(S)
            total += float(-logp[np.arange(len(S)), y].sum())
            dS = np.exp(logp)
            dS[np.arange(len(S)), y] -= 1.0
            g = self._scores_backward(dS / N, cache)
            grads = g if grads is None else {k: grads[k] + g[k] for k in grads}
        if not np.isfinite(total):
            raise NonFiniteError(f"the prompt loss is {total}: check the prompt parameters and the learning rate")
        return total / N, grads

    def content_free_probs(self, inputs=("N/A", "", "[MASK]"), demonstrations=None):
        """P(y | content-free x, t) averaged over `inputs` (S11, Zhao et al. 2021): p_cf for calibrate."""
        if isinstance(inputs, str):
            inputs = [inputs]
        inputs = list(inputs)
        if not inputs:
            raise ValueError("inputs must hold at least one content-free text, e.g. ('N/A', '', '[MASK]')")
        fields = [{f: s for f in self.template.fields} for s in inputs]
        return self.predict_proba(fields, demonstrations).mean(axis=0)

    def generation_prefix(self):
        """What ``generate(..., prompt=self)`` needs: dict(inputs_embeds=(m, C) or None,
        past_kv=list of (k, v) each (1, H, m, D) or None) from the peft module (S12)."""
        out = dict(inputs_embeds=None, past_kv=None)
        if self._peft_in_slots:
            raise ValueError("this prompt's virtual tokens sit in the template's {soft} slots, but generation "
                             "places them before the text: train a peft prompt without {soft} slots of the same "
                             "count to generate with it")
        if self.peft is not None:
            vectors, _ = self.peft.forward()
            out["inputs_embeds" if self.peft.kind == "embeds" else "past_kv"] = vectors
        return out

    def save_prompt(self, folder):
        """Write the prompt (its tensors + a JSON with template, verbalizer, peft config and the base
        model's fingerprint) to `folder`, atomically. See prompt_io.save_prompt."""
        from tinyllm.prompt.prompt_io import save_prompt
        return save_prompt(self, folder)

    @classmethod
    def load_prompt(cls, folder, model, tokenizer):
        """A PromptModel on `model` with the prompt saved in `folder`; another base model is a ValueError."""
        from tinyllm.prompt.prompt_io import load_prompt
        return load_prompt(folder, model, tokenizer)

    # ------------------------------------------------------------ inputs

    def _inputs(self, texts):
        """texts: a str, a list of str / field dicts, or a Dataset -> list of {field: token ids}."""
        fields = self.template.fields
        if hasattr(texts, "texts") and not isinstance(texts, (str, list, tuple)):
            extra = getattr(texts, "fields", None) or [{}] * len(texts.texts)
            texts = [{"x": t, **f} for t, f in zip(texts.texts, extra)]
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, (list, tuple)) or not texts:
            raise ValueError(f"texts must be a non-empty list of strings (or of field dicts), got {texts!r:.80}")
        out = []
        for k, t in enumerate(texts):
            if isinstance(t, str):
                if len(fields) != 1:
                    raise ValueError(f"the template has fields {list(fields)}: give texts[{k}] as a dict of them")
                t = {fields[0]: t}
            if not isinstance(t, dict):
                raise TypeError(f"texts[{k}] must be a str or a dict of fields, got {type(t).__name__}")
            missing = [f for f in fields if f not in t]
            if missing:
                raise ValueError(f"texts[{k}] lacks the template's field(s) {missing}")
            for f in fields:
                if not isinstance(t[f], str):
                    raise TypeError(f"texts[{k}][{f!r}] must be a str, got {type(t[f]).__name__}")
            out.append({f: encode_text(self.tokenizer, t[f]) for f in fields})
        return out

    def _labels(self, labels, n):
        names = self.verbalizer.label_names
        if isinstance(labels, (str, int, np.integer)):
            raise TypeError("labels must be a sequence with one label per text")
        labels = [names.index(y) if isinstance(y, str) and y in names else y for y in labels]
        for k, y in enumerate(labels):
            if isinstance(y, str):
                raise ValueError(f"labels[{k}]={y!r} is not a label name; expected one of {names}")
        a = np.asarray(labels)
        if a.shape != (n,) or (a.size and not np.issubdtype(a.dtype, np.integer)):
            raise ValueError(f"labels must be {n} ints (one per text) or label names, got shape {a.shape} dtype {a.dtype}")
        if a.size and (a.min() < 0 or a.max() >= len(names)):
            raise ValueError(f"labels must lie in [0, {len(names)}) (labels {names}), got {a.min()}..{a.max()}")
        return a.astype(np.int64)

    # ------------------------------------------------------------ rows: token sequences and scoring terms

    def _render(self, pieces, fields):
        """Pieces -> token codes: ids >= 0, and -(1 + j) for the j-th extra vector (soft, trigger)."""
        out = []
        for p in pieces:
            if p[0] == "ids":
                out.extend(p[1])
            elif p[0] == "field":
                out.extend(fields[p[1]])
            elif p[0] == "soft":
                out.append(-(1 + p[1]))
            elif p[0] == "trigger":
                out.append(-(1 + self.n_soft + p[1]))
        return out

    def _virtual(self):
        base = self.n_soft + self.n_trig
        return [-(1 + base + j) for j in range(self.n_virtual)]

    def _fit_fields(self, fields, extra_len, where):
        """Cut the input field (x first) from its end so that the longest row fits the context."""
        max_len = self.model.config.max_len
        total = extra_len + self._query_len(fields)
        if total <= max_len:
            return fields
        f = "x" if "x" in fields else self.template.fields[0]
        occ = self._query_len({**fields, f: [0]}) - self._query_len({**fields, f: []})   # times f is used
        rest = total - occ * len(fields[f])
        if occ == 0 or rest > max_len:
            raise ValueError(f"{where}: the template {self.template.text!r} with its framing and answer needs "
                             f"{rest} tokens besides {{{f}}}, more than the model's context max_len={max_len}: "
                             "shorten the template or the other fields")
        return {**fields, f: fields[f][:(max_len - rest) // occ]}

    def _example_rows(self, fields, demo_ids, where, words=None):
        """Rows (token-code lists) and terms (row, time, token, word) of one example (S11)."""
        words = words or [w for ids in self.verbalizer.word_ids for w in ids]
        before, fields = self._before_tokens(fields, demo_ids, where, max(len(w) for w in words))
        rows, terms, index = [], [], {}
        if self.kind == "gpt":
            # longest words first, so a shorter word's context is a prefix of an existing row
            for w in sorted(range(len(words)), key=lambda j: -len(words[j])):
                ctx = before + words[w][:-1]
                r = next((r for r, row in enumerate(rows) if row[:len(ctx)] == ctx), None)
                if r is None:
                    r = len(rows)
                    rows.append(ctx)
                terms.extend((r, len(before) - 1 + k, v, w) for k, v in enumerate(words[w]))
            return rows, terms
        after = self._render(self._after, fields) + self._end + demo_ids
        mask = self.tokenizer.mask_id
        for w, word in enumerate(words):
            for k, v in enumerate(word):
                filled = tuple(word[:k]) if self.verbalizer.decoding == "left_to_right" else ()
                key = (len(word), filled)
                if key not in index:
                    index[key] = len(rows)
                    rows.append(before + list(filled) + [mask] * (len(word) - len(filled)) + after)
                terms.append((index[key], len(before) + k, v, w))
        return rows, terms

    def _before_tokens(self, fields, demo_ids, where, K):
        """The codes of one example up to its answer slot (framing, virtual tokens, demonstrations
        included), the input cut to fit the longest row (K answer tokens); and the fields used."""
        head = self._virtual() + (demo_ids + self._start if self.kind == "gpt" else self._start)
        extra = len(head) + (K - 1 if self.kind == "gpt" else K + len(self._end) + len(demo_ids))
        if demo_ids:
            if extra + self._query_len(fields) > self.model.config.max_len:
                raise ValueError(f"{where}: the demonstrations and the query need "
                                 f"{extra + self._query_len(fields)} tokens, more than the model's context "
                                 f"max_len={self.model.config.max_len}: use fewer or shorter demonstrations "
                                 "(k) or a model with a longer context")
        else:
            fields = self._fit_fields(fields, extra, where)
        before = head + self._render(self._before, fields)
        if not before:
            raise ValueError(f"{where}: nothing precedes {{mask}} and the tokenizer has no [BOS]: a causal LM "
                             "needs context before the answer; put the input before {mask}")
        return before, fields

    def _query_len(self, fields):
        return len(self._render(self._before, fields)) + (len(self._render(self._after, fields))
                                                          if self.kind == "bert" else 0)

    def _demo_ids(self, demonstrations):
        if demonstrations is None:
            return []
        return demonstrations.token_ids(self)

    def demo_tokens(self, fields, label):
        """One demonstration (GPT: framed like a document; BERT: followed by [SEP]): the template
        filled with the text and the label's first word."""
        word = self.verbalizer.word_ids[label][0]
        body = self._render(self._before, fields) + word + self._render(self._after, fields)
        return (self._start + body + self._demo_end) if self.kind == "gpt" else (body + self._demo_end)

    # ------------------------------------------------------------ forward and backward over a batch

    def _scores(self, inputs, demonstrations):
        """Label scores S (N, L) for a batch of inputs, and the cache for _scores_backward."""
        self._check_finite()
        demo = self._demo_ids(demonstrations)
        rows, terms = [], []
        for n, fields in enumerate(inputs):
            r, t = self._example_rows(fields, demo, f"texts[{n}]")
            terms.extend((len(rows) + a, b, v, w, n) for a, b, v, w in t)
            rows.extend(r)
        codes, attn = self._pad(rows)
        terms = np.asarray(terms, np.int64)                                # (n_terms, 5)
        pairs, pair_of_term = np.unique(terms[:, :2], axis=0, return_inverse=True)
        pair_of_term = pair_of_term.reshape(-1)
        logits, fcache = self._model_forward(codes, attn, pairs)         # (n_pairs, V)
        logp = _log_softmax(logits)
        term_lp = logp[pair_of_term, terms[:, 2]]                          # log P(v_k | context)
        W = sum(len(ids) for ids in self.verbalizer.word_ids)
        word_scores = np.zeros((len(inputs), W), logp.dtype)
        np.add.at(word_scores, (terms[:, 4], terms[:, 3]), term_lp)        # chain rule sum over k
        S, weights = self.verbalizer.combine_forward(word_scores)
        return S, (fcache, logp, terms, pair_of_term, weights)

    def _gpt_scores_shared(self, inputs, demonstrations):
        """Label scores for a causal LM without gradients (E2.2, S11): the context up to the answer
        slot runs once per example and every label word continues from its KV cache, instead of one
        full row per word. Equals ``_scores`` (a test checks it)."""
        self._check_finite()
        model = self.model
        demo = self._demo_ids(demonstrations)
        words = [w for ids in self.verbalizer.word_ids for w in ids]
        K = max(len(w) for w in words)
        befores = [self._before_tokens(f, demo, f"texts[{n}]", K)[0] for n, f in enumerate(inputs)]
        X, _ = self._extras_forward()
        prefix = self.peft.forward()[0] if self._has_prefix else None
        multi = [w for w in range(len(words)) if len(words[w]) > 1]
        word_scores = np.zeros((len(inputs), len(words)), model.dtype)
        for L in sorted({len(b) for b in befores}):
            group = [n for n, b in enumerate(befores) if len(b) == L]
            codes = np.asarray([befores[n] for n in group], np.int64)          # (G, L)
            ids = np.where(codes < 0, self.tokenizer.pad_id or 0, codes)
            kw = dict(past_kv=None if prefix is None else
                      [(np.repeat(k, len(group), 0), np.repeat(v, len(group), 0)) for k, v in prefix],
                      pos_offset=0)
            if X is None:
                logits, present = model.forward_cached(ids, **kw)
            else:
                embeds = model.embed_tokens(ids)
                embeds[codes < 0] = X[-codes[codes < 0] - 1]
                logits, present = model.forward_cached(inputs_embeds=embeds, **kw)
            lp = _log_softmax(logits[:, -1])                                   # (G, V) at the slot
            first = [w[0] for w in words]
            word_scores[group] += lp[:, first]
            if not multi:
                continue
            # each multi-token word continues every example of the group: (G * n_multi, K - 1) rows
            cont = np.full((len(multi), K - 1), self.tokenizer.pad_id or 0, np.int64)
            for r, w in enumerate(multi):
                cont[r, :len(words[w]) - 1] = words[w][:-1]
            step = max(1, _KV_ROWS // (len(multi) * present[0][0].shape[2]))   # bounds the repeated cache
            for a in range(0, len(group), step):
                sub = group[a:a + step]
                past = [(np.repeat(k[a:a + step], len(multi), 0), np.repeat(v[a:a + step], len(multi), 0))
                        for k, v in present]
                logits, _ = model.forward_cached(np.tile(cont, (len(sub), 1)), past_kv=past, pos_offset=L)
                lp = _log_softmax(logits).reshape(len(sub), len(multi), K - 1, -1)
                for r, w in enumerate(multi):
                    rest = words[w][1:]                                        # v_2 .. v_K
                    word_scores[sub, w] += lp[:, r, np.arange(len(rest)), rest].sum(axis=1)
        return self.verbalizer.combine_forward(word_scores)[0]

    def _pad(self, rows):
        """Rows of token codes -> codes (R, T) right-padded, attention_mask (R, T)."""
        R, T = len(rows), max(len(r) for r in rows)
        codes = np.full((R, T), self.tokenizer.pad_id or 0, np.int64)
        attn = np.zeros((R, T), np.int64)
        for r, row in enumerate(rows):
            codes[r, :len(row)] = row
            attn[r, :len(row)] = 1
        return codes, attn

    def _scores_backward(self, dS, cache):
        fcache, logp, terms, pair_of_term, weights = cache
        dword = self.verbalizer.combine_backward(dS, weights)             # (N, W)
        dterm = dword[terms[:, 4], terms[:, 3]]
        G = np.zeros_like(logp)
        np.add.at(G, (pair_of_term, terms[:, 2]), dterm)
        dlogits = G - np.exp(logp) * G.sum(axis=1, keepdims=True)        # log-softmax backward
        return self._model_backward(dlogits, fcache)

    def _extras_forward(self):
        """The vectors spliced into the input embeddings: soft slots, triggers, virtual tokens."""
        parts, cache = [], None
        if self._peft_in_slots or self.n_virtual:
            out, cache = self.peft.forward()
        if self._peft_in_slots:
            parts.append(out)
        elif self.n_soft:
            parts.append(self.prompt_params[SOFT])
        if self.n_trig:
            parts.append(self.prompt_params[TRIGGER])
        if self.n_virtual:
            parts.append(out)
        return (np.concatenate(parts) if parts else None), cache

    def _model_forward(self, codes, attn, at):
        """Logits (n, V) at the (row, time) pairs `at`, and the cache for _model_backward."""
        model = self.model
        src = np.where(codes < 0, -codes - 1, -1)                          # extra vector index or -1
        ids = np.where(codes < 0, self.tokenizer.pad_id or 0, codes)
        X, xcache = self._extras_forward()
        embeds = None
        if X is not None:
            embeds = model.embed_tokens(ids)                               # (R, T, C)
            sel = src >= 0
            embeds[sel] = X[src[sel]]
        past_kv, pcache = None, None
        if self._has_prefix:
            prefix, pcache = self.peft.forward()
            past_kv = [(np.repeat(k, len(codes), axis=0), np.repeat(v, len(codes), axis=0)) for k, v in prefix]
        rng = self._rng if model.training else None
        kw = dict(attention_mask=attn, past_kv=past_kv, at=at, rng=rng)
        if past_kv is not None and self.kind == "gpt":
            kw["pos_offset"] = 0                                           # a prefix takes no positions
        if embeds is None:
            logits, mcache = model.forward_with_cache(idx=ids, **kw)
        else:
            logits, mcache = model.forward_with_cache(inputs_embeds=embeds, **kw)
        return logits, (mcache, src, X is not None, xcache, pcache)

    def _model_backward(self, dlogits, fcache):
        mcache, src, has_embeds, xcache, pcache = fcache
        if not self.frozen:
            return self.model.backward(dlogits, mcache, None)
        wrt = (["inputs_embeds"] if has_embeds else []) + (["past_kv"] if self._has_prefix else [])
        g = self.model.backward(dlogits, mcache, wrt)
        grads = {}
        if has_embeds:
            sel = src >= 0
            dX = np.zeros((self.n_soft + self.n_trig + self.n_virtual, g["inputs_embeds"].shape[-1]),
                          g["inputs_embeds"].dtype)
            np.add.at(dX, src[sel], g["inputs_embeds"][sel])               # scatter back to the vectors
            if self._peft_in_slots:
                grads.update(self.peft.backward(dX[:self.n_soft], xcache))
            elif self.n_soft:
                grads[SOFT] = dX[:self.n_soft]
            if self.n_trig:
                grads[TRIGGER] = dX[self.n_soft:self.n_soft + self.n_trig]
            if self.n_virtual:
                grads.update(self.peft.backward(dX[self.n_soft + self.n_trig:], xcache))
        if self._has_prefix:
            dprefix = [(dk.sum(axis=0, keepdims=True), dv.sum(axis=0, keepdims=True)) for dk, dv in g["past_kv"]]
            grads.update(self.peft.backward(dprefix, pcache))
        return grads

    def _check_finite(self):
        if not self.frozen:
            return
        for name, p in self.prompt_params.items():
            if not np.all(np.isfinite(p)):
                raise NonFiniteError(f"prompt parameter {name!r} holds NaN or inf (after a training step?): "
                                     "lower the learning rate and start again from a finite prompt")


# ------------------------------------------------------------ small helpers

def _log_softmax(z):
    m = z.max(axis=-1, keepdims=True)
    s = z - m
    return s - np.log(np.exp(s).sum(axis=-1, keepdims=True))


def _softmax(z):
    return np.exp(_log_softmax(z))


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)
