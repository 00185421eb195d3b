"""Static checks run with the suite, so CI runs them through the README's one test command."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is not installed")
def test_ruff_is_clean():
    result = _run(["ruff", "check", "stylepedal", "tests", "benchmarks", "scripts"])
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean():
    pytest.importorskip("mypy")
    result = _run([sys.executable, "-m", "mypy", "stylepedal"])
    assert result.returncode == 0, result.stdout + result.stderr
