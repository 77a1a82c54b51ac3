"""Hand-written test data and the golden-file helper (``fixtures`` is in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
