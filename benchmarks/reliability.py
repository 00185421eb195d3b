"""Hostile cases replayed through the command line, as a user meets them (JSON).

    python benchmarks/reliability.py                  # every quick case
    python benchmarks/reliability.py --slow           # also the slow ones (train memory)
    python benchmarks/reliability.py --only ir_cap,worker_death
    python benchmarks/reliability.py --list

Every case makes its own real files in a temporary folder and runs ``python -m stylepedal``
in fresh processes (signals are sent for real, to the process or its whole group as a
terminal does), then checks what a user would: the exit status, a one-line error with no
traceback, no output or hidden temporary file left behind, no worker process left running.
The JSON holds ``cases_run``, ``cases_ok`` and one entry per case with its outcome, its
seconds and what it measured.

Adding a case: write ``def case_name(work: Path) -> dict`` that raises :class:`CaseFailed`
(or lets any exception out) when the outcome is wrong and returns what it measured, and
append ``Case("name", "what it checks", case_name)`` to :data:`CASES`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.hostile._processes import (  # noqa: E402 - after the checkout is on the path
    children,
    start_cli,
    temp_files,
    wait_for_temp_files,
    wait_gone,
    write_tone,
)

# Long enough to be mid-render when the temporary output appears; with --jobs 2 the parent
# renders b at once and the worker a once it has loaded: b is the longer, so both overlap.
RENDER_SECONDS = {"a": 90.0, "b": 240.0}
PRESET = "Fuzz"


class CaseFailed(AssertionError):
    """A hostile case ended otherwise than it must."""


@dataclass(frozen=True)
class Case:
    name: str
    checks: str
    run: Callable[[Path], dict[str, Any]]
    slow: bool = False


def _check(condition: bool, what: str) -> None:
    if not condition:
        raise CaseFailed(what)


def _cli(work: Path, *args: str, env: dict[str, str] | None = None,
         timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stylepedal", *args], cwd=work, capture_output=True, text=True,
        timeout=timeout, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )


def _one_line_error(done: subprocess.CompletedProcess, pattern: str) -> None:
    _check(done.returncode == 2, f"exit {done.returncode}, expected 2: {done.stderr[-300:]}")
    lines = done.stderr.strip().splitlines()
    _check(len(lines) == 1, f"{len(lines)} lines on stderr, expected one: {done.stderr[-300:]}")
    _check(re.search(pattern, lines[0]) is not None, f"{lines[0]!r} does not say {pattern!r}")


def _impulse_response(path: Path, seconds: float) -> Path:
    import numpy as np
    from pedalboard.io import AudioFile

    x = np.zeros((1, int(seconds * 8000)), np.float32)
    x[0, ::4000] = 0.1
    with AudioFile(str(path), "w", samplerate=8000, num_channels=1) as f:
        f.write(x)
    return path


def _inputs(work: Path, count: int) -> list[Path]:
    return [write_tone(work / f"{name}.wav", RENDER_SECONDS[name]) for name in "ab"[:count]]


# -- the cases -----------------------------------------------------------------------------------
def case_ir_cap(work: Path) -> dict[str, Any]:
    src = write_tone(work / "in.wav", 1.0)
    ir = _impulse_response(work / "hall.wav", 3600.0)
    started = time.monotonic()
    done = _cli(work, "render", str(src), str(work / "out.wav"), "--preset", PRESET,
                "--no-progress", "--post", f"Convolution(impulse_response_filename={str(ir)!r})")
    _one_line_error(done, r"at most \d+ s")
    _check(not (work / "out.wav").exists(), "an output was written")
    return {"impulse_response_seconds": 3600, "seconds_to_refuse": time.monotonic() - started}


def case_blocksize_cap(work: Path) -> dict[str, Any]:
    started = time.monotonic()
    try:
        done = _cli(work, "live", "--preset", PRESET, "--blocksize", "100000000",
                    "--seconds", "3", timeout=60)
    except subprocess.TimeoutExpired as exc:
        raise CaseFailed("live --blocksize 100000000 --seconds 3 ran for 60 s") from exc
    _one_line_error(done, r"--blocksize=100000000 .*\[1, \d+\]")
    return {"seconds_to_refuse": time.monotonic() - started}


def _terminate_mid_render(work: Path, signum: int, jobs: int) -> dict[str, Any]:
    out = work / "out"
    out.mkdir()
    srcs = _inputs(work, jobs)
    proc = start_cli("render", *map(str, srcs), "--out-dir", str(out), "--preset", PRESET,
                     "--no-progress", "--jobs", str(jobs), cwd=work)
    wait_for_temp_files(proc, out, jobs)
    workers = children(proc.pid)
    sent = time.monotonic()
    if signum == signal.SIGINT:
        os.killpg(proc.pid, signum)
    else:
        os.kill(proc.pid, signum)
    _, err = proc.communicate(timeout=60)
    stopped_s = time.monotonic() - sent
    expected = 130 if signum == signal.SIGINT else 128 + signum
    _check(proc.returncode == expected, f"exit {proc.returncode}, expected {expected}: {err}")
    _check("Traceback" not in err, f"a traceback: {err[-500:]}")
    left = wait_gone(workers)
    _check(not left, f"workers {left} still run")
    _check(not list(out.iterdir()), f"left behind: {sorted(p.name for p in out.iterdir())}")
    return {"workers": len(workers), "seconds_to_stop": stopped_s}


def case_sigterm_render(work: Path) -> dict[str, Any]:
    return _terminate_mid_render(work, signal.SIGTERM, jobs=1)


def case_sighup_render(work: Path) -> dict[str, Any]:
    return _terminate_mid_render(work, signal.SIGHUP, jobs=1)


def case_sigterm_jobs(work: Path) -> dict[str, Any]:
    return _terminate_mid_render(work, signal.SIGTERM, jobs=2)


def case_ctrl_c_jobs(work: Path) -> dict[str, Any]:
    return _terminate_mid_render(work, signal.SIGINT, jobs=2)


def case_worker_death(work: Path) -> dict[str, Any]:
    out = work / "out"
    out.mkdir()
    proc = start_cli("render", *map(str, _inputs(work, 2)), "--out-dir", str(out),
                     "--preset", PRESET, "--no-progress", "--jobs", "2", cwd=work)
    wait_for_temp_files(proc, out, 2)
    workers = children(proc.pid)
    killed = time.monotonic()
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    left = wait_gone(workers)
    gone_s = time.monotonic() - killed
    _check(not left, f"workers {left} outlived their parent")
    published = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    _check(not published, f"published after the parent died: {published}")
    _check(not any(p.name.startswith(".a.") for p in temp_files(out)),
           "the worker left its temporary file")
    return {"workers": len(workers), "seconds_until_workers_gone": gone_s}


def case_nofork_bytes(work: Path) -> dict[str, Any]:
    src = write_tone(work / "in.wav", 8.0)
    outputs = {}
    for name, env in (("forked", {}), ("one_process", {"STYLEPEDAL_NO_FORK": "1"})):
        done = _cli(work, "render", str(src), str(work / f"{name}.wav"), "--preset", PRESET,
                    "--post", "Reverb(room_size=0.3)", "--no-progress", env=env)
        _check(done.returncode == 0, f"{name} render failed: {done.stderr[-300:]}")
        outputs[name] = (work / f"{name}.wav").read_bytes()
    _check(outputs["forked"] == outputs["one_process"], "the two renders differ")
    # on one core the default render does not fork: both are then the one-process path
    return {"bytes": len(outputs["forked"]), "cores": len(os.sched_getaffinity(0))}


# Runs a command and prints its peak RSS in KiB (Linux): a small parent of its own, so that no
# earlier child of this process counts.
_PEAK_RSS = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    "sys.exit(code)\n"
)


def case_long_style_train(work: Path) -> dict[str, Any]:
    import numpy as np
    from pedalboard.io import AudioFile

    minutes = 30
    path = work / "long-style.flac"
    rng = np.random.default_rng(1)
    with AudioFile(str(path), "w", samplerate=44100, num_channels=2) as f:
        for _ in range(minutes * 6):
            t = np.arange(441000) / 44100
            f0 = 110 * 2 ** (rng.integers(0, 24) / 12)
            x = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, 12))
            x = 0.1 * x * np.exp(-(t % 1.0) * 2) + 0.01 * rng.standard_normal(t.size)
            f.write(np.stack([x, x]).astype(np.float32))
    done = subprocess.run(
        [sys.executable, "-c", _PEAK_RSS, sys.executable, "-m", "stylepedal", "train",
         str(path), "--name", "Long", "--steps", "1"], cwd=work, capture_output=True,
        text=True, timeout=900, env={**os.environ, "PYTHONPATH": str(ROOT),
                                     "STYLEPEDAL_HOME": str(work / "home")},
    )
    _check(done.returncode == 0, f"train failed: {done.stderr[-300:]}")
    peak_mb = int(done.stdout.strip().splitlines()[-1]) / 1024
    _check(peak_mb < 1500, f"peak RSS {peak_mb:.0f} MB")
    return {"style_minutes": minutes, "peak_rss_mb": round(peak_mb)}


# Further cases (hostile files and bundles, MIDI floods beside an idle port) join this list.
CASES: list[Case] = [
    Case("ir_cap", "a 60-minute impulse response is refused before it is loaded", case_ir_cap),
    Case("blocksize_cap", "live --blocksize 100000000 is refused at once", case_blocksize_cap),
    Case("sigterm_render", "SIGTERM mid-render: exit 143, nothing left", case_sigterm_render),
    Case("sighup_render", "SIGHUP mid-render: exit 129, nothing left", case_sighup_render),
    Case("sigterm_jobs", "SIGTERM with --jobs 2: workers stopped, nothing left",
         case_sigterm_jobs),
    Case("ctrl_c_jobs", "Ctrl-C with --jobs 2: no traceback, nothing left", case_ctrl_c_jobs),
    Case("worker_death", "parent killed with --jobs 2: its worker dies, publishes nothing",
         case_worker_death),
    Case("nofork_bytes", "a render without fork writes the forked render's bytes",
         case_nofork_bytes),
    Case("long_style_train", "train on a 30-minute style stays under 1.5 GB",
         case_long_style_train, slow=True),
]


def run_cases(cases: list[Case]) -> dict[str, Any]:
    results = []
    for case in cases:
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix=f"reliability-{case.name}-") as tmp:
            entry: dict[str, Any] = {"name": case.name, "checks": case.checks}
            try:
                entry.update(case.run(Path(tmp)))
                entry["ok"] = True
            except Exception as exc:  # a case that breaks is a failed case, not a crash
                entry.update(ok=False, error=f"{type(exc).__name__}: {exc}"[:1000])
        entry["seconds"] = round(time.monotonic() - started, 2)
        for key, value in entry.items():
            if isinstance(value, float):
                entry[key] = round(value, 3)
        results.append(entry)
        print(f"{case.name}: {'ok' if entry['ok'] else 'FAILED'}", file=sys.stderr, flush=True)
    return {
        "cases_run": len(results),
        "cases_ok": sum(r["ok"] for r in results),
        "cases": results,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Replay hostile cases (huge impulse responses and blocks, signals "
        "mid-render, dying workers, no fork) through the stylepedal command line and print "
        "JSON: cases run, cases ok, and each case's outcome.",
    )
    parser.add_argument("--only", metavar="NAMES",
                        help="comma-separated case names to run (see --list)")
    parser.add_argument("--slow", action="store_true",
                        help="also run the slow cases (a 30-minute style trained)")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    args = parser.parse_args(argv)
    if args.list:
        for case in CASES:
            print(f"{case.name:18} {case.checks}{' (slow)' if case.slow else ''}")
        return 0
    cases = [c for c in CASES if args.slow or not c.slow]
    if args.only:
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = sorted(set(wanted) - {c.name for c in CASES})
        if unknown:
            parser.error(f"unknown case(s) {', '.join(unknown)}: see --list")
        cases = [c for c in CASES if c.name in wanted]
    report = run_cases(cases)
    print(json.dumps(report, indent=2))
    return 0 if report["cases_ok"] == report["cases_run"] else 1


if __name__ == "__main__":
    sys.exit(main())
