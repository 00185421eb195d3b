"""Bounded resources: an impulse response's length and a live block are capped before anything
large is allocated; at the largest live block --seconds and Ctrl-C are still honoured."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from stylepedal.errors import ParameterError
from stylepedal.host.chain import Chain
from stylepedal.host.live import MAX_BLOCKSIZE, LiveEngine
from stylepedal.host.spec import MAX_IMPULSE_RESPONSE_SECONDS, parse_spec
from tests.host.live.conftest import start_jackd, stop_jackd
from tests.hostile._processes import ROOT, start_cli, write_tone


def _cli(*args: str, cwd, timeout: float = 120, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stylepedal", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


def _impulse_response(path, seconds: float, sample_rate: int = 8000):
    from pedalboard.io import AudioFile

    n = int(seconds * sample_rate)
    x = np.zeros((1, n), np.float32)
    x[0, :: max(1, n // 64)] = 0.1  # a sparse tail: its length is what matters here
    with AudioFile(str(path), "w", samplerate=sample_rate, num_channels=1) as f:
        f.write(x)
    return path


def test_a_long_impulse_response_is_refused_before_it_is_loaded(tmp_path):
    long_ir = _impulse_response(tmp_path / "hall.wav", MAX_IMPULSE_RESPONSE_SECONDS + 1)
    with pytest.raises(ParameterError, match=r"lasts 31\.0 s: allowed are impulse responses "
                       r"of at most 30 s"):
        parse_spec(f"Convolution(impulse_response_filename={str(long_ir)!r})")
    short_ir = _impulse_response(tmp_path / "room.wav", 2.0)
    (plugin,) = parse_spec(f"Convolution(impulse_response_filename={str(short_ir)!r})")
    assert type(plugin).__name__ == "Convolution"


def test_an_impulse_response_that_is_not_audio_is_a_parameter_error(tmp_path):
    bad = tmp_path / "ir.wav"
    bad.write_bytes(b"not audio at all")
    with pytest.raises(ParameterError, match="impulse response file .* cannot be read"):
        parse_spec(f"Convolution(impulse_response_filename={str(bad)!r})")
    with pytest.raises(ParameterError, match="does not exist"):
        parse_spec(f"Convolution(impulse_response_filename={str(tmp_path / 'none.wav')!r})")


def test_render_refuses_a_long_impulse_response_in_one_line(tmp_path):
    src = write_tone(tmp_path / "in.wav", 1.0)
    long_ir = _impulse_response(tmp_path / "hall.wav", 120.0)
    done = _cli("render", str(src), str(tmp_path / "out.wav"), "--preset", "Fuzz",
                "--no-progress", "--post",
                f"Convolution(impulse_response_filename={str(long_ir)!r})", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "at most 30 s" in done.stderr
    assert not (tmp_path / "out.wav").exists()


def test_live_refuses_a_huge_block_at_once(tmp_path):
    started = time.monotonic()
    done = _cli("live", "--preset", "Fuzz", "--blocksize", "100000000", "--seconds", "3",
                cwd=tmp_path, timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (
        f"stylepedal live: error: --blocksize=100000000 is out of range: allowed is an "
        f"integer in [1, {MAX_BLOCKSIZE}]"
    )
    assert time.monotonic() - started < 30
    with pytest.raises(ParameterError, match=f"blocksize={MAX_BLOCKSIZE + 1} is out of range"):
        LiveEngine(Chain(), sample_rate=48000, blocksize=MAX_BLOCKSIZE + 1)


@pytest.fixture(scope="module")
def jack_env(tmp_path_factory):
    """A JACK dummy server of this module's own (the live tests' may run beside it), and the
    environment that points a ``stylepedal live`` process at it."""
    if shutil.which("jackd") is None or shutil.which("jack_wait") is None:
        pytest.skip("jackd is not installed (apt-get install jackd2)")
    env = {"JACK_DEFAULT_SERVER": f"stylepedal-hostile-{os.getpid()}",
           "JACK_NO_AUDIO_RESERVATION": "1"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # jackd and jack_wait take the server's name from it
    log = open(tmp_path_factory.mktemp("jack") / "jackd.log", "w")  # noqa: SIM115
    try:
        proc = start_jackd(env["JACK_DEFAULT_SERVER"], log)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    try:
        yield env
    finally:
        stop_jackd(proc, log)


@pytest.mark.live
def test_the_largest_block_honours_seconds_and_ctrl_c(jack_env, tmp_path):
    # the stream ends within two blocks (the one playing and the one queued) of the request
    late_s = 2 * MAX_BLOCKSIZE / 48000
    done = _cli("live", "--preset", "Fuzz", "--blocksize", str(MAX_BLOCKSIZE), "--seconds",
                "1.5", cwd=tmp_path, env=jack_env)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["blocksize"] == MAX_BLOCKSIZE and summary["callbacks"] >= 1
    assert 1.5 <= summary["seconds"] < 1.5 + late_s, summary

    proc = start_cli("live", "--preset", "Fuzz", "--blocksize", str(MAX_BLOCKSIZE),
                     cwd=tmp_path, env=jack_env)
    assert proc.stderr is not None
    first = proc.stderr.readline()  # the first status line: the stream runs
    assert first.startswith("preset 'Fuzz'"), first
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert time.monotonic() - sent < 1.0 + late_s
    assert proc.returncode == 0, err
    assert json.loads(out)["blocksize"] == MAX_BLOCKSIZE


def test_the_reliability_benchmark_replays_the_caps_and_prints_json(tmp_path):
    from tests.helpers import benchmark_help

    usage = benchmark_help("reliability.py")
    assert "--only" in usage and "--list" in usage
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "reliability.py"), "--only",
         "ir_cap,blocksize_cap"], capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["cases_run"] == 2 and report["cases_ok"] == 2, report
    assert [c["name"] for c in report["cases"]] == ["ir_cap", "blocksize_cap"]
    assert report["summary"] == {"cases_run": 2, "cases_ok": 2, "floods_add_xruns": None,
                                 "flood_handling_adds_xruns": None,
                                 "floods_rule": "not named in --only"}
    assert "--no-floods" in usage and "--flood-seconds" in usage
