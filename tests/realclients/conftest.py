"""Fixtures of the real-client tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.realclients import harness as h


@pytest.fixture(scope="module")
def clis() -> Path:
    """The folder of the installed CLIs: skipped without them, failed under ``CI=true``."""
    return h.require_clis()
