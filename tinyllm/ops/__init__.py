"""The article's equations as NumPy forward/backward pairs: the reference implementation.

Every ``*_forward`` returns ``(out, cache)``; every ``*_backward(dout, cache)`` returns the gradients
of the forward's differentiable inputs in argument order. Nothing here imports the rest of tinyllm.

Cache convention (the same in tinyllm.kernels.fused, the block and the models): a cache is a dict;
a key holding an array is that array's symbol (``x``, ``x_hat``, ``rstd``, ``W``, ``A``, ``q``,
``lse`` ...), and a key holding another op's cache is the name of that sub-layer, as in the
parameter names (``ln_1``, ``attn``, ``ffn``, ``proj_q``, ``proj_o``, ``fc_1``, ``gelu``,
``softmax``, ``matmul_softmax``). Each forward's docstring lists its cache keys and their shapes.

| file          | equations                              |
|---------------|----------------------------------------|
| linear.py     | the projections of E3.1 and E3.4       |
| embedding.py  | S8                                     |
| layernorm.py  | S4                                     |
| gelu.py       | S5                                     |
| softmax.py    | S1                                     |
| dropout.py    | (regularisation)                       |
| attention.py  | E3.2, E3.3, S3                         |
| multihead.py  | E3.1, E3.4, E3.5                       |
| ffn.py        | S6                                     |
| losses.py     | S2, E3.6, E3.7, E4.1                   |
"""

from tinyllm.ops.attention import (attention_backward, attention_forward, attention_mask,
                                   matmul_softmax_backward, matmul_softmax_forward)
from tinyllm.ops.dropout import dropout_backward, dropout_forward
from tinyllm.ops.embedding import embedding_backward, embedding_forward
from tinyllm.ops.ffn import ffn_backward, ffn_forward
from tinyllm.ops.gelu import gelu_backward, gelu_forward
from tinyllm.ops.layernorm import layernorm_backward, layernorm_forward
from tinyllm.ops.linear import linear_backward, linear_forward
from tinyllm.ops.losses import (IGNORE_INDEX, causal_lm_loss_forward, causal_lm_targets,
                                cross_entropy_backward, cross_entropy_forward,
                                masked_lm_loss_forward, perplexity, sequence_log_likelihood)
from tinyllm.ops.multihead import (attention_backward_packed, attention_forward_packed, merge_heads,
                                   multihead_attention_backward, multihead_attention_forward,
                                   split_heads, split_qkv)
from tinyllm.ops.softmax import (log_softmax_backward, log_softmax_forward, softmax_backward,
                                 softmax_forward)

__all__ = [name for name in dir() if name.endswith(("_forward", "_backward"))] + [
    "IGNORE_INDEX", "attention_mask", "causal_lm_targets", "merge_heads", "perplexity",
    "sequence_log_likelihood", "split_heads", "split_qkv"]
