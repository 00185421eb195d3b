"""Shared pieces of the hostile-input suite: real files, and the CLI run as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from stylepedal.audio_io import write_audio

ROOT = Path(__file__).resolve().parents[2]

# Runs the CLI in a child whose files may grow to at most LIMIT bytes (RLIMIT_FSIZE): a write
# past it fails with EFBIG exactly as on a full disk, with no root and no special file system.
_LIMITED = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
limit = int(sys.argv[1])
if limit:
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
memory = int(sys.argv.pop(2))
if memory:
    resource.setrlimit(resource.RLIMIT_AS, (memory, resource.RLIM_INFINITY))
from stylepedal.host.cli import main
sys.exit(main(sys.argv[2:]))
"""


def cli(argv: list[str], *, file_limit: int = 0, memory_limit: int = 0, timeout: float = 120.0,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``stylepedal ARGV`` in a child process (exit code and stderr as a user sees them),
    its files limited to ``file_limit`` bytes and its address space to ``memory_limit``
    (0: no limit)."""
    child_env = dict(os.environ if env is None else env)
    child_env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-c", _LIMITED, str(file_limit), str(memory_limit), *argv],
        capture_output=True, text=True, timeout=timeout, env=child_env, cwd=ROOT,
    )


def clean_failure(proc: subprocess.CompletedProcess[str]) -> str:
    """Assert a typed failure (exit 2, one message, no traceback); return stderr."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    return proc.stderr


def tone(path: Path, *, seconds: float = 0.5, sample_rate: int = 48000, channels: int = 1,
         bit_depth: int | None = None) -> Path:
    """A real audio file: a quiet 220 Hz tone with a little noise."""
    n = int(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    rng = np.random.default_rng(19)
    x = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.01 * rng.standard_normal(n)
    audio = np.tile(x.astype(np.float32), (channels, 1))
    return write_audio(path, audio, sample_rate, bit_depth=bit_depth)


def leftovers(folder: Path) -> list[str]:
    """Hidden temporary files an interrupted write would leave."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))
