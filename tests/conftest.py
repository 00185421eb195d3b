"""Shared fixtures: seeded random generators and test signals (librosa tests/conftest style)."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

# A suite started in the background of a script (`cmd &`) inherits SIGINT ignored, and an
# ignored signal stays ignored across exec: the Ctrl-C tests' children would never see theirs.
# The tests send it on purpose, so the children get the disposition a terminal gives them.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261121)


@pytest.fixture(autouse=True)
def _isolated_store(tmp_path_factory, monkeypatch):
    """Every test gets its own STYLEPEDAL_HOME, so no test touches the user's store."""
    home = tmp_path_factory.mktemp("stylepedal-home")
    monkeypatch.setenv("STYLEPEDAL_HOME", str(home))
    yield home
