"""P-tuning (S12; Liu et al. 2021, "GPT Understands, Too"): the m virtual tokens are not free vectors
but the output of a small prompt encoder, so that they depend on each other. PEFT's PromptEncoder:

    "mlp":   out = ReLU(ReLU(e W_1 + b_1) W_2 + b_2) W_3 + b_3                 e: (m, C) -> (m, C)
    "lstm":  s = BiLSTM(e)  (encoder_num_layers layers, h units each way)       (m, 2h)
             out = ReLU(s W_1 + b_1) W_2 + b_2                                  (m, C)

e is a trainable table (``encoder.embedding`` (m, C)), N(0, 1) at the start as in PEFT (unit-size
inputs keep the LSTM's gates away from zero; the encoder, not e, carries the scale of the output).
The LSTM starts with N(0, 1/fan_in) weights and a forget-gate bias of 1 (Jozefowicz et al. 2015) so
that its memory, and the gradients through it, do not start near zero. The output goes where a soft
prompt would (kind "embeds"); the model stays frozen. The LSTM's backward through time is tinyllm.ops.lstm.
Parameters: ``encoder.embedding``, ``encoder.mlp.W_k`` / ``b_k``, and for the LSTM
``encoder.lstm.l{k}.W_x`` / ``W_h`` / ``b`` and ``encoder.lstm.l{k}_reverse.*`` (torch's naming).
"""

import numpy as np

from tinyllm.ops.lstm import bilstm_backward, bilstm_forward
from tinyllm.prompt.mlp import mlp_backward, mlp_forward, mlp_init
from tinyllm.prompt.peft_module import PeftModule

_GATE_NAMES = ("W_x", "W_h", "b")


class PromptEncoder(PeftModule):
    """P-tuning's prompt encoder (S12). ``forward()`` -> (m, C); ``backward(dout)`` -> its gradients."""

    kind = "embeds"

    def __init__(self, config, model, tokenizer=None, seed=0, init_ids=None, params=None):
        self.encoder_type = config.encoder_type
        self.hidden = int(config.encoder_hidden_size)
        self.lstm_layers = int(config.encoder_num_layers)
        super().__init__(config, model, seed, params)
        if self.params is None:
            self.params = self._init(model, tokenizer, init_ids)

    def _lstm_names(self):
        return [(f"encoder.lstm.l{k}", f"encoder.lstm.l{k}_reverse") for k in range(self.lstm_layers)]

    def _mlp_sizes(self):
        C, h = self.d_model, self.hidden
        return (C, h, h, C) if self.encoder_type == "mlp" else (2 * h, 2 * h, C)

    def param_shapes(self):
        C, h = self.d_model, self.hidden
        shapes = {"encoder.embedding": (self.num_virtual_tokens, C)}
        if self.encoder_type == "lstm":
            for k, pair in enumerate(self._lstm_names()):
                I = C if k == 0 else 2 * h
                for name in pair:
                    shapes.update({f"{name}.W_x": (I, 4 * h), f"{name}.W_h": (h, 4 * h), f"{name}.b": (4 * h,)})
        sizes = self._mlp_sizes()
        for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
            shapes.update({f"encoder.mlp.W_{k}": (a, b), f"encoder.mlp.b_{k}": (b,)})
        return shapes

    def _init(self, model, tokenizer, init_ids):
        rng = np.random.default_rng(self.seed)
        params = {"encoder.embedding": rng.standard_normal((self.num_virtual_tokens, self.d_model)).astype(self.dtype)}
        h = self.hidden
        for name, shape in self.param_shapes().items():
            if name.startswith("encoder.lstm.") and name.endswith(".b"):
                params[name] = np.zeros(shape, self.dtype)
                params[name][h:2 * h] = 1.0                                    # forget gate open: f = sigma(1)
            elif name.startswith("encoder.lstm."):
                params[name] = (rng.standard_normal(shape) / np.sqrt(shape[0])).astype(self.dtype)
        params.update(mlp_init("encoder.mlp", self._mlp_sizes(), rng, self.dtype))
        return params

    def _layers(self):
        p = self.params
        return [tuple(tuple(p[f"{name}.{g}"] for g in _GATE_NAMES) for name in pair) for pair in self._lstm_names()]

    def forward(self):
        """The m virtual token vectors (m, C) and a cache."""
        x, c_lstm = self.params["encoder.embedding"], None                     # (m, C)
        if self.encoder_type == "lstm":
            s, c_lstm = bilstm_forward(x[None], self._layers())                # (1, m, 2h)
            x = s[0]
        n = len(self._mlp_sizes()) - 1
        out, c_mlp = mlp_forward(x, self.params, "encoder.mlp", n, "relu")     # (m, C)
        return out, (c_lstm, c_mlp)

    def backward(self, dout, cache):
        """dout (m, C) (or (B, m, C), summed over B) -> gradients of every parameter."""
        c_lstm, c_mlp = cache
        dout = self._check_dout(dout, (self.num_virtual_tokens, self.d_model))
        dx, grads = mlp_backward(dout, c_mlp)
        if self.encoder_type == "lstm":
            dx, lstm_grads = bilstm_backward(dx[None], c_lstm)
            dx = dx[0]
            for pair, gpair in zip(self._lstm_names(), lstm_grads):
                for name, triple in zip(pair, gpair):
                    grads.update({f"{name}.{g}": d for g, d in zip(_GATE_NAMES, triple)})
        grads["encoder.embedding"] = dx
        return grads
