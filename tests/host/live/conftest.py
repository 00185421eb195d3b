"""A real JACK server (dummy driver) for the live tests, and real presets in the test store.

The server runs on a private name at 48 kHz with 128-frame periods. PortAudio only sees JACK if
it initialises while the server is up, so it is re-initialised after the server starts, and
terminated before the server stops (otherwise pa_jack aborts the process at exit).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest

JACK_RATE = 48000
JACK_PERIOD = 128


def start_jackd(name: str, log) -> subprocess.Popen:
    base = ["-d", "dummy", "-r", str(JACK_RATE), "-p", str(JACK_PERIOD), "-C", "2", "-P", "2"]
    # Real-time first (as root it is allowed); without it if the system refuses.
    for prefix in (["-R", "-P", "70"], []):
        proc = subprocess.Popen(["jackd", *prefix, *base], stdout=log, stderr=subprocess.STDOUT)
        ok = subprocess.run(
            ["jack_wait", "-w", "-t", "10", "-s", name], capture_output=True, text=True,
            check=False,
        )
        if proc.poll() is None and ok.returncode == 0:
            return proc
        proc.terminate()
        proc.wait(timeout=10)
    raise RuntimeError(f"jackd did not come up; see {log.name}")



def stop_jackd(proc: subprocess.Popen, log) -> None:
    """Stop a server :func:`start_jackd` started, and close its log."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
    log.close()

@pytest.fixture(scope="session")
def jack_server(tmp_path_factory):
    """Yield the name of a running JACK dummy server; PortAudio is initialised against it."""
    if shutil.which("jackd") is None or shutil.which("jack_wait") is None:
        pytest.skip("jackd is not installed (apt-get install jackd2): no live tests")
    name = f"stylepedal-test-{os.getpid()}"
    saved = {k: os.environ.get(k) for k in ("JACK_DEFAULT_SERVER", "JACK_NO_AUDIO_RESERVATION")}
    os.environ["JACK_DEFAULT_SERVER"] = name
    os.environ["JACK_NO_AUDIO_RESERVATION"] = "1"
    log = open(tmp_path_factory.mktemp("jack") / "jackd.log", "w")  # noqa: SIM115
    proc = start_jackd(name, log)
    import sounddevice as sd

    sd._terminate()
    sd._initialize()
    try:
        yield name
    finally:
        sd._terminate()
        stop_jackd(proc, log)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        sd._initialize()


@pytest.fixture
def make_preset():
    """Save a real user preset (a small StyleNet, nudged off the identity) in the test store."""
    from tests.helpers import make_preset

    return make_preset


def wait_for(predicate, timeout_s: float = 5.0, step_s: float = 0.01) -> bool:
    """Poll ``predicate`` until it is true or ``timeout_s`` passes."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step_s)
    return predicate()
