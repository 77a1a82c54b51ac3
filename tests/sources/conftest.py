"""Where the real transcripts live, and the golden-file helper."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

#: The shared real transcripts, next to the repository (never copied into it).
FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture
def fixtures() -> Path:
    """The real transcript folder; skip (or fail in CI) when it is not there."""
    if not FIXTURES.is_dir():
        message = f"real transcripts not found at {FIXTURES} (see shared/fixtures/MANIFEST.md)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return FIXTURES
