"""Concurrent imports into one store: of two bundles of the same name (in any case), exactly one
wins and the other is told why; threads of one process and separate processes alike.

Writing the preset file is slowed down, as on a busy disk, so that without a lock the second
import would check for the name while the first is still writing it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from stylepedal.errors import PresetError
from stylepedal.presets.format import Preset
from stylepedal.presets.store import Store
from tests.hostile._forge import bundle_members, factory_model, write_bundle

SLOW_WRITE_SECONDS = 0.5

# The same import in another process, its preset write slowed down the same way.
_CHILD = """
import sys, time
from stylepedal.presets.format import Preset
from stylepedal.presets.store import Store
original = Preset.save
def slow(self, *args, **kwargs):
    time.sleep(float(sys.argv[3]))
    return original(self, *args, **kwargs)
Preset.save = slow
print("importing", flush=True)
try:
    Store(sys.argv[1]).import_(sys.argv[2])
    print("ok", flush=True)
except Exception as exc:
    print(f"{type(exc).__name__}: {exc}", flush=True)
"""


def _bundle(tmp_path: Path, name: str) -> Path:
    """An honest bundle of the factory Vibes model named ``name``, in format 1 (as every
    stylepedal reads)."""
    key, weights, meta = factory_model("Vibes")
    return write_bundle(tmp_path / f"{name}-{len(list(tmp_path.iterdir()))}.zip",
                        bundle_members(name, key, weights, meta, version=1))


@pytest.fixture
def slow_writes(monkeypatch):
    original = Preset.save

    def slow(self, *args, **kwargs):
        time.sleep(SLOW_WRITE_SECONDS)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Preset, "save", slow)


def _outcome(fn) -> str:
    try:
        fn()
        return "ok"
    except PresetError as exc:
        return f"PresetError: {exc}"


@pytest.mark.parametrize("names", [("Race", "Race"), ("Race", "race")])
def test_concurrent_imports_of_one_name_in_threads(tmp_path, slow_writes, names):
    root = tmp_path / "home"
    bundles = [_bundle(tmp_path, n) for n in names]
    outcomes: list[str] = []
    threads = [
        threading.Thread(target=lambda b=b: outcomes.append(_outcome(
            lambda: Store(root).import_(b))))
        for b in bundles
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(o[:2] for o in outcomes) == ["Pr", "ok"], outcomes
    refused = next(o for o in outcomes if o != "ok")
    assert "exists already" in refused and "--force" in refused
    assert len(list((root / "presets").glob("*.toml"))) == 1
    assert [e.name.casefold() for e in Store(root).user_entries()] == ["race"]


def test_concurrent_imports_of_one_name_in_two_processes(tmp_path, slow_writes):
    root = tmp_path / "home"
    mine, theirs = _bundle(tmp_path, "Race"), _bundle(tmp_path, "race")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(root), str(theirs), str(SLOW_WRITE_SECONDS)],
        stdout=subprocess.PIPE, text=True, env=env,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "importing"
        time.sleep(0.1)  # let the child read its bundle and start writing
        outcome = _outcome(lambda: Store(root).import_(mine))
        theirs_outcome = child.stdout.readline().strip()
    finally:
        child.wait(timeout=30)
    assert sorted(o[:2] for o in (outcome, theirs_outcome)) == ["Pr", "ok"], (
        outcome, theirs_outcome)
    assert len(list((root / "presets").glob("*.toml"))) == 1
