"""Hostile cases replayed through the command line, as a user meets them (JSON).

    python benchmarks/reliability.py                  # every quick case
    python benchmarks/reliability.py --slow           # also the slow ones (train memory)
    python benchmarks/reliability.py --only ir_cap,worker_death   # 'floods' for the floods
    python benchmarks/reliability.py --no-floods      # the cases alone (floods need jackd)
    python benchmarks/reliability.py --flood-seconds 30 --flood-repeats 3
    python benchmarks/reliability.py --list

Every case makes its own real files in a temporary folder and runs ``python -m stylepedal``
in fresh processes (signals are sent for real, to the process or its whole group as a
terminal does), then checks what a user would: the exit status, a one-line error with no
traceback, no output or hidden temporary file left behind, no worker process left running.
The JSON holds ``cases_run``, ``cases_ok`` and one entry per case with its outcome, its
seconds and what it measured. Then ``floods`` runs the MIDI phases of ``benchmarks/host.py``
(an idle JACK MIDI port, a 20k msg/s flood to another port, a 20k msg/s flood, 20k msg/s of
SysEx garbage) taking turns on one JACK dummy server, each phase's xruns, callbacks and
callback p99 beside the idle port's; the ``summary`` says ``floods_add_xruns`` (beyond the idle
port's) and ``flood_handling_adds_xruns`` (beyond the unheard flood's, which loads the machine
alike), and the rule used (skipped, with the reason, without jackd).

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

# the hostile suite's own builders and runners: the benchmark replays exactly what it tests
from tests.hostile._forge import (  # noqa: E402 - after the checkout is on the path
    HOSTILE_PRESETS,
    NETWORK,
    bundle_members,
    crafted_members,
    deflated,
    factory_model,
    honest_members,
    lying_wav,
    network_bytes,
    raw_zip,
    write_bundle,
    zeros_stream,
)
from tests.hostile._processes import (  # noqa: E402
    children,
    pool_workers,
    start_render,
    temp_files,
    wait_gone,
    write_tone,
)
from tests.hostile._util import cli, leftovers, tone  # noqa: E402

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


def _cli(work: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120,
         file_limit: int = 0) -> subprocess.CompletedProcess:
    """``stylepedal ARGS`` in a child whose store is ``work/home`` (never the user's), its
    files limited to ``file_limit`` bytes (0: no limit)."""
    full_env = {**os.environ, "STYLEPEDAL_HOME": str(work / "home"), **(env or {})}
    return cli(list(args), env=full_env, timeout=timeout, file_limit=file_limit)


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


def _rendering(work: Path, jobs: int) -> tuple[Any, Path]:
    """A render of ``jobs`` files with ``--jobs jobs``, once every file is being written; and
    its output folder."""
    out = work / "out"
    return start_render(_inputs(work, jobs), out, "--jobs", str(jobs), preset=PRESET,
                        cwd=work), out


def _terminate_mid_render(work: Path, signum: int, jobs: int) -> dict[str, Any]:
    proc, out = _rendering(work, jobs)
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
    proc, out = _rendering(work, 2)
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


def case_worker_killed(work: Path) -> dict[str, Any]:
    proc, out = _rendering(work, 2)
    workers = pool_workers(proc.pid)
    _check(len(workers) == 1, f"{len(workers)} pool workers, expected 1")
    os.kill(workers[0], signal.SIGKILL)  # as the OOM killer does: the worker cleans nothing
    _, err = proc.communicate(timeout=600)
    _check(proc.returncode == 2, f"exit {proc.returncode}, expected 2: {err[-500:]}")
    _check("Traceback" not in err, f"a traceback: {err[-500:]}")
    last = err.strip().splitlines()[-1]
    _check("a.wav" in last and "worker process rendering it died" in last,
           f"{last!r} does not name a.wav and the dead worker")
    files = sorted(p.name for p in out.iterdir())
    _check(files == ["b.wav"], f"in the output folder: {files}, expected the parent's b.wav")
    return {}


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


def _with_peak_rss(work: Path, argv: list[str], timeout: float = 900,
                   env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess, float]:
    """Run ``argv`` (its store ``work/home``) and return it with its peak RSS in MB."""
    done = subprocess.run(
        [sys.executable, "-c", _PEAK_RSS, *argv], cwd=work, capture_output=True, text=True,
        timeout=timeout, env={**os.environ, "PYTHONPATH": str(ROOT),
                              "STYLEPEDAL_HOME": str(work / "home"), **(env or {})},
    )
    return done, int(done.stdout.strip().splitlines()[-1]) / 1024


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
    done, peak_mb = _with_peak_rss(work, [sys.executable, "-m", "stylepedal", "train",
                                          str(path), "--name", "Long", "--steps", "1"])
    _check(done.returncode == 0, f"train failed: {done.stderr[-300:]}")
    _check(peak_mb < 1500, f"peak RSS {peak_mb:.0f} MB")
    return {"style_minutes": minutes, "peak_rss_mb": round(peak_mb)}


# -- hostile files, bundles, presets and specs --------------------------------------------------
def case_disk_full_render(work: Path) -> dict[str, Any]:
    src = tone(work / "in.wav", seconds=2.0, channels=2)
    old = tone(work / "old.wav", seconds=0.1)
    before = old.read_bytes()
    (work / "sizes").mkdir()
    scratch = work / "sizes" / "full.wav"
    done = _cli(work, "render", str(src), str(scratch), "--preset", PRESET, "--no-progress")
    _check(done.returncode == 0, f"the sizing render failed: {done.stderr[-300:]}")
    # room for all but the last 2000 bytes: the disk fills at the end of the write
    limit = scratch.stat().st_size - 2000
    done = _cli(work, "render", str(src), str(old), "--preset", PRESET, "--overwrite",
                "--no-progress", file_limit=limit)
    _one_line_error(done, "cannot write")
    _check(old.read_bytes() == before, "the old output changed")
    _check(not leftovers(work), f"left behind: {leftovers(work)}")
    return {"file_limit_bytes": limit}


def case_prep_self(work: Path) -> dict[str, Any]:
    full = tone(work / "full.wav")
    before = full.read_bytes()
    for extra in ([], ["--overwrite"]):
        done = _cli(work, "prep", str(full), str(full), "--loudness", "-23", *extra)
        _one_line_error(done, "is the input file")
    _check(full.read_bytes() == before, "prep replaced its input")
    return {}


def case_lying_header(work: Path) -> dict[str, Any]:
    src = lying_wav(work / "lie.wav", 10**9)
    started = time.monotonic()
    done = _cli(work, "render", str(src), str(work / "o.wav"), "--preset", PRESET,
                "--no-progress", timeout=60)
    refused_s = time.monotonic() - started
    _one_line_error(done, r"claims .*144000")
    _check(not (work / "o.wav").exists(), "an output was written")
    _check(refused_s < 30, f"took {refused_s:.0f} s to refuse")
    return {"file_bytes": src.stat().st_size, "frames_claimed": 10**9,
            "seconds_to_refuse": refused_s}


def case_truncated_flac(work: Path) -> dict[str, Any]:
    whole = tone(work / "whole.flac", seconds=2.0)
    cut = work / "cut.flac"
    cut.write_bytes(whole.read_bytes()[:-3000])
    done = _cli(work, "render", str(cut), str(work / "o.wav"), "--preset", PRESET,
                "--no-progress")
    _one_line_error(done, "truncated")
    _check(not (work / "o.wav").exists(), "an output was written")
    return {"bytes_cut": 3000}


def case_fifo_input(work: Path) -> dict[str, Any]:
    fifo = work / "in.wav"
    os.mkfifo(fifo)
    for argv in (["render", str(fifo), str(work / "o.wav"), "--preset", PRESET,
                  "--no-progress"], ["presets", "import", str(fifo)]):
        try:
            done = _cli(work, *argv, timeout=30)
        except subprocess.TimeoutExpired as exc:
            raise CaseFailed(f"{argv[0]} blocked on the FIFO for 30 s") from exc
        _one_line_error(done, "FIFO")
    return {}


def _render_bytes(work: Path, preset: str, name: str) -> bytes:
    src = work / "probe.wav"
    if not src.exists():
        tone(src, seconds=0.5)
    done = _cli(work, "render", str(src), str(work / name), "--preset", preset,
                "--no-progress")
    _check(done.returncode == 0, f"render --preset {preset} failed: {done.stderr[-300:]}")
    return (work / name).read_bytes()


def case_bundle_hijack(work: Path) -> dict[str, Any]:
    organ_key, _, _ = factory_model("Organ")
    _, fuzz_weights, fuzz_meta = factory_model("Fuzz")
    bundle = write_bundle(work / "innocent.stylepedal", bundle_members(
        "Innocent", organ_key, fuzz_weights, fuzz_meta))
    organ = _render_bytes(work, "Organ", "organ-before.wav")
    _check(organ != _render_bytes(work, "Fuzz", "fuzz.wav"), "Organ and Fuzz sound alike")
    _one_line_error(_cli(work, "presets", "import", str(bundle)),
                    "cannot claim another model's key")
    _check(_render_bytes(work, "Organ", "organ-after.wav") == organ, "Organ changed")
    return {}


def case_zip_bomb(work: Path) -> dict[str, Any]:
    stream, crc = zeros_stream(1 << 30)
    entries = [(n, *deflated(d)) for n, d in honest_members(work).items()
               if n != "model.safetensors"]
    entries.append(("model.safetensors", stream, crc, 620_000))  # declares 620 KB
    bundle = raw_zip(work / "bomb.stylepedal", entries)
    done, peak_mb = _with_peak_rss(work, [sys.executable, "-m", "stylepedal", "presets",
                                          "import", str(bundle)], timeout=300)
    _one_line_error(done, "model.safetensors")
    _check(peak_mb < 256, f"peak RSS {peak_mb:.0f} MB for a 1024 MB member")
    return {"member_mb": 1024, "bundle_mb": round(bundle.stat().st_size / 2**20, 2),
            "peak_rss_mb": round(peak_mb)}


def case_crafted_network(work: Path) -> dict[str, Any]:
    from stylepedal.effect.model.stream import weight_shapes

    network = {**NETWORK, "kernel_size": 10**9}
    weights = network_bytes(network, shapes=weight_shapes(NETWORK))  # small, whatever it says
    bundle = write_bundle(work / "crafted.stylepedal",
                          crafted_members("Crafted", "ab" * 32, weights, network))
    done, peak_mb = _with_peak_rss(work, [sys.executable, "-m", "stylepedal", "presets",
                                          "import", str(bundle)], timeout=120)
    _one_line_error(done, r"kernel_size=1000000000 is out of range")
    _check(not (work / "home" / "presets").exists(), "a preset was stored")
    return {"peak_rss_mb": round(peak_mb)}


def case_bad_user_preset(work: Path) -> dict[str, Any]:
    folder = work / "home" / "presets"
    folder.mkdir(parents=True)
    (folder / "Bad.toml").write_text(HOSTILE_PRESETS["401-digit mix"])
    done = _cli(work, "presets", "list")
    _check(done.returncode == 0, f"presets list: exit {done.returncode}: {done.stderr[-300:]}")
    _check("Organ" in done.stdout, "presets list lost the factory presets")
    _check("skipping" in done.stderr and "Traceback" not in done.stderr,
           f"no warning, or a traceback: {done.stderr[-300:]}")
    return {}


def case_gain_inf(work: Path) -> dict[str, Any]:
    src = tone(work / "in.wav", seconds=0.3)
    done = _cli(work, "render", str(src), str(work / "o.wav"), "--preset", PRESET,
                "--no-progress", "--post", "Gain(gain_db=1e308)")
    _one_line_error(done, "gain_db")
    _check(not (work / "o.wav").exists(), "an output was written")
    return {}


# One 10-minute stereo buffer through process() in one call, in a process of its own.
_PROCESS_LONG = (
    "import resource, sys\n"
    "import numpy as np\n"
    "from stylepedal.effect import StyleTransfer\n"
    "effect = StyleTransfer.from_preset(sys.argv[1])\n"
    "rng = np.random.default_rng(0)\n"
    "x = (0.1 * rng.standard_normal((2, 48000 * 600))).astype(np.float32)\n"
    "y = effect.process(x, 48000)\n"
    "ok = y.shape == x.shape and bool(np.isfinite(y).all())\n"
    "print(ok, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
)


def case_process_10min(work: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _PROCESS_LONG, PRESET], cwd=work, capture_output=True,
        text=True, timeout=1800, env={**os.environ, "PYTHONPATH": str(ROOT),
                                      "STYLEPEDAL_HOME": str(work / "home")},
    )
    _check(done.returncode == 0, f"process() failed: {done.stderr[-300:]}")
    ok, peak_kib = done.stdout.split()[-2:]
    peak_mb = int(peak_kib) / 1024
    _check(ok == "True", "the output is not the input's shape, or not finite")
    _check(peak_mb < 1024, f"peak RSS {peak_mb:.0f} MB")
    # input and output alone are 2 x 220 MB: the rest is what process() holds besides
    return {"buffer_minutes": 10, "channels": 2, "peak_rss_mb": round(peak_mb)}


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
    Case("worker_killed", "a --jobs 2 worker killed from outside: exit 2, one line naming "
         "its file, its temporary file removed", case_worker_killed),
    Case("nofork_bytes", "a render without fork writes the forked render's bytes",
         case_nofork_bytes),
    Case("long_style_train", "train on a 30-minute style stays under 1.5 GB",
         case_long_style_train, slow=True),
    Case("disk_full_render", "disk full in the last KB of render --overwrite: exit 2, old "
         "output kept, no temporary file", case_disk_full_render),
    Case("prep_self", "prep full.wav full.wav is refused, with or without --overwrite",
         case_prep_self),
    Case("lying_header", "a 576 KB WAV claiming 10^9 frames is refused at once",
         case_lying_header),
    Case("truncated_flac", "a FLAC cut short is refused, nothing rendered",
         case_truncated_flac),
    Case("fifo_input", "a FIFO as render or import input is refused without blocking",
         case_fifo_input),
    Case("bundle_hijack", "a bundle claiming Organ's model key is refused; Organ unchanged",
         case_bundle_hijack),
    Case("zip_bomb", "a bundle member of 1 GiB zeros declared 620 KB is refused in bounded "
         "memory", case_zip_bomb),
    Case("crafted_network", "a network config with kernel_size=10**9 is refused before "
         "allocation", case_crafted_network),
    Case("bad_user_preset", "a user preset with a 401-digit mix is skipped with a warning; "
         "presets list works", case_bad_user_preset),
    Case("gain_inf", "--post Gain(gain_db=1e308) is refused, nothing written", case_gain_inf),
    Case("process_10min", "process() of a 10-minute stereo buffer in one call stays under "
         "1 GB", case_process_10min, slow=True),
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


# A flood adds xruns when its phase has more than the idle port's: the phases take turns on one
# server, the same number of times and seconds each, so the machine's own glitches fall on all.
FLOOD_RULE = ("a flood adds xruns when its xruns exceed the idle MIDI port's, the phases "
              "taking turns on one JACK dummy server ({repeats} x {seconds:g} s each)")


def _load_host() -> Any:
    """``benchmarks/host.py`` as a module (its MIDI phases, JACK server and live runs)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("stylepedal_host_benchmark",
                                                  Path(__file__).with_name("host.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_floods(seconds: float, repeats: int) -> dict[str, Any]:
    """The MIDI phases of ``benchmarks/host.py`` (idle port, 20k msg/s, SysEx garbage) on a
    JACK dummy server: xruns, callbacks and callback p99 per phase beside the idle one."""
    import shutil

    if shutil.which("jackd") is None:
        return {"skipped": "jackd is not installed (apt-get install jackd2)"}
    host = _load_host()
    import torch

    torch.set_num_threads(1)  # as the host benchmark's live runs: the callback waits on no pool
    make_effect, effect, _ = host.pick_effect()
    try:
        with host.jack_server(f"stylepedal-reliability-{os.getpid()}") as log:
            with host.sounddevice_on_jack():
                log.since_last()  # the server's start-up
                phases = host.take_turns(host.flood_group(), seconds / repeats, make_effect,
                                         log, repeats)
    except SystemExit as exc:  # start_jack's way of saying the server did not start
        return {"skipped": str(exc)}
    idle = phases["midi_idle_port"]["xruns"]
    report: dict[str, Any] = {"effect": effect, "seconds_each": seconds, "repeats": repeats}
    for key, phase in phases.items():
        report[key] = {
            "xruns": phase["xruns"], "callbacks": phase["callbacks"],
            "callback_p99_ms": phase["callback_p99_ms"], "overruns": phase["overruns"],
            "faults": phase["faults"], "sent": sum(phase.get("sent", [])),
            "xruns_beyond_idle": phase["xruns"] - idle,
            # the server's log by cause: its own timer late (no client involved), or ours
            "server_late": phase["jack_log"]["driver_late"],
            "client_not_finished": phase["jack_log"]["client_not_finished"],
        }
    report["rule"] = FLOOD_RULE.format(repeats=repeats, seconds=seconds / repeats)
    heard = [key for key, kind in host.FLOOD_PHASES if kind in ("cc", "sysex")]
    report["add_xruns"] = any(report[key]["xruns_beyond_idle"] > 0 for key in heard)
    # the same flood to a port nobody hears loads the machine alike: beyond it is our handling
    report["handling_adds_xruns"] = (
        report["midi_flood_20k"]["xruns"] > report["midi_flood_20k_unheard"]["xruns"]
    )
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Replay hostile cases (lying, truncated and endless files, full disks, "
        "forged bundles, zip bombs, crafted networks and presets, huge impulse responses and "
        "blocks, signals mid-render, dying workers) through the stylepedal command line, then "
        "MIDI floods on a JACK dummy server beside an idle port, and print JSON: cases run, "
        "cases ok, each case's outcome, and whether the floods add xruns.",
    )
    parser.add_argument("--only", metavar="NAMES",
                        help="comma-separated case names to run (see --list); 'floods' "
                        "for the MIDI floods")
    parser.add_argument("--slow", action="store_true",
                        help="also run the slow cases (a 30-minute style trained, a "
                        "10-minute buffer through process())")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--flood-seconds", type=float, default=15.0,
                        help="seconds of each MIDI phase (idle port, 20k msg/s heard and "
                        "unheard, SysEx garbage) in all (default: %(default)s)")
    parser.add_argument("--flood-repeats", type=int, default=3,
                        help="the MIDI phases take turns this many times (default: "
                        "%(default)s)")
    parser.add_argument("--no-floods", action="store_true",
                        help="skip the MIDI floods (they need jackd)")
    args = parser.parse_args(argv)
    if args.list:
        for case in CASES:
            print(f"{case.name:18} {case.checks}{' (slow)' if case.slow else ''}")
        return 0
    cases = [c for c in CASES if args.slow or not c.slow]
    floods = not args.no_floods
    if args.only:
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        floods = floods and "floods" in wanted
        unknown = sorted(set(wanted) - {c.name for c in CASES} - {"floods"})
        if unknown:
            parser.error(f"unknown case(s) {', '.join(unknown)}: see --list")
        cases = [c for c in CASES if c.name in wanted]
    if args.flood_seconds / max(args.flood_repeats, 1) <= 1.0 or args.flood_repeats < 1:
        parser.error("--flood-seconds / --flood-repeats must be over 1 s")
    report = run_cases(cases)
    if not floods:
        report["floods"] = {"skipped": "--no-floods" if args.no_floods else
                            "not named in --only"}
    else:
        report["floods"] = run_floods(args.flood_seconds, args.flood_repeats)
    floods = report["floods"]
    report["summary"] = {
        "cases_run": report["cases_run"], "cases_ok": report["cases_ok"],
        "floods_add_xruns": floods.get("add_xruns"),
        "flood_handling_adds_xruns": floods.get("handling_adds_xruns"),
        "floods_rule": floods.get("rule", floods.get("skipped")),
    }
    print(json.dumps(report, indent=2))
    failed = report["cases_ok"] != report["cases_run"] or floods.get("add_xruns") is True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
