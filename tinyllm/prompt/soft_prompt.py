"""Prompt tuning (S12; Lester et al. 2021): m trainable vectors P in the model's embedding space,
placed among the token embeddings of the input; the model stays frozen and only P is trained.

    inputs_embeds = [ ... E[x] ..., P_1 ... P_m, ... ]        (T + m, C)   P: (m, C)
    dL/dP = the gradient of those rows of inputs_embeds        (the model's backward, wrt="inputs_embeds")

Initialisations (PEFT's names): "random" N(0, std(E)); "vocab" rows of E for m random words;
"text" the embeddings of a text (``init_text`` or its ids), repeated/cut to m; "labels" the embeddings
of the label words' ids (passed as ``init_ids``), repeated/cut to m. Parameter: ``soft.P`` (m, C).
"""

import numpy as np

from tinyllm.prompt.peft_module import PeftModule, special_ids_of, word_ids


class SoftPrompt(PeftModule):
    """m virtual token embeddings (S12). ``forward()`` -> (m, C), ``backward(dP)`` -> {"soft.P": dP}."""

    kind = "embeds"

    def __init__(self, config, model, tokenizer=None, seed=0, init_ids=None, params=None):
        super().__init__(config, model, seed, params)
        if self.params is None:
            self.params = {"soft.P": self._init(model, tokenizer, init_ids)}

    def param_shapes(self):
        return {"soft.P": (self.num_virtual_tokens, self.d_model)}

    def _init(self, model, tokenizer, init_ids):
        m, E, init = self.num_virtual_tokens, model.params["tok_emb"], self.config.init
        rng = np.random.default_rng(self.seed)
        if init == "random":
            return (rng.standard_normal((m, self.d_model)) * E.std()).astype(self.dtype)
        if init == "vocab":
            ids = word_ids(m, None, self.vocab_size, special_ids_of(tokenizer), rng)
        elif init == "text":
            if init_ids is None:
                if self.config.init_text is None or tokenizer is None:
                    raise ValueError('init="text" needs init_text (and a tokenizer) or init_ids')
                init_ids = tokenizer.encode(self.config.init_text)
                if not init_ids:
                    raise ValueError(f"init_text {self.config.init_text!r} gives no tokens")
            ids = word_ids(m, init_ids, self.vocab_size, (), rng)
        else:                                                   # "labels"
            if init_ids is None:
                raise ValueError('init="labels" needs init_ids: the label words\' token ids')
            ids = word_ids(m, init_ids, self.vocab_size, (), rng)
        return E[ids].astype(self.dtype)                        # a copy: the model is not touched

    def forward(self):
        """The m virtual token vectors (m, C) (a copy) and an empty cache."""
        return self.params["soft.P"].copy(), None

    def backward(self, dout, cache=None):
        """dout (m, C) (or (B, m, C), summed over B): the gradient of the vectors -> {"soft.P": dP}."""
        return {"soft.P": self._check_dout(dout, (self.num_virtual_tokens, self.d_model)).copy()}
