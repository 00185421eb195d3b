"""Real processes for the signal tests: the CLI in a subprocess, its children, its temp files."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def write_tone(path: Path, seconds: float, sample_rate: int = 44100, channels: int = 2) -> Path:
    """A plucked tone (a real file through pedalboard.io), the channels a few samples apart."""
    from pedalboard.io import AudioFile

    t = np.arange(int(seconds * sample_rate)) / sample_rate
    x = (0.3 * np.sin(2 * np.pi * 220 * t) * np.exp(-(t % 0.5) * 4)).astype(np.float32)
    with AudioFile(str(path), "w", samplerate=sample_rate, num_channels=channels) as f:
        f.write(np.stack([np.roll(x, 37 * c) for c in range(channels)]))
    return path


def start_cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """``python -m stylepedal ARGS`` in its own session (so a signal can go to its whole
    process group, as a terminal sends Ctrl-C)."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "stylepedal", *args], cwd=cwd, env=full_env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )


def temp_files(folder: Path) -> list[Path]:
    """The hidden temporary outputs in ``folder``."""
    return sorted(p for p in folder.iterdir() if p.name.startswith(".") and ".tmp" in p.name)


def wait_for_temp_files(proc: subprocess.Popen, folder: Path, count: int,
                        timeout_s: float = 90.0) -> list[Path]:
    """Wait until ``count`` temporary outputs are being written (the render is under way)."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        found = [p for p in temp_files(folder) if p.stat().st_size > 0]
        if len(found) >= count:
            return found
        if proc.poll() is not None:
            raise AssertionError(f"the render ended first: {proc.communicate()}")
        time.sleep(0.02)
    proc.kill()
    raise AssertionError(f"no {count} temporary outputs after {timeout_s} s: {proc.communicate()}")


def start_render(inputs: list[Path], out: Path, *extra: str, preset: str = "Fuzz",
                 cwd: Path | None = None) -> subprocess.Popen:
    """``stylepedal render INPUTS --out-dir OUT`` (a new folder) in its own session, returned
    once every input's temporary output is being written."""
    out.mkdir()
    proc = start_cli("render", *map(str, inputs), "--out-dir", str(out), "--preset", preset,
                     "--no-progress", *extra, cwd=cwd or out)
    wait_for_temp_files(proc, out, len(inputs))
    return proc


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def pool_workers(pid: int) -> list[int]:
    """The process-pool workers among ``pid``'s children (not multiprocessing's resource
    tracker): spawned processes run ``spawn_main``."""
    found = []
    for child in children(pid):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in cmdline:
            found.append(child)
    return found


def running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def wait_gone(pids: list[int], timeout_s: float = 15.0) -> list[int]:
    """Wait until none of ``pids`` runs; return those still running after ``timeout_s``."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end and any(running(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if running(p)]
