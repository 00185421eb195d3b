"""SIGTERM, SIGHUP, SIGKILL and Ctrl-C in the middle of a real render (real processes, real
signals): no temporary file left, no worker left running, none publishing after its parent."""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.hostile._processes import (
    children,
    pool_workers,
    running,
    start_cli,
    start_render,
    temp_files,
    wait_gone,
    write_tone,
)

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads processes from /proc")

# Long enough that a render is still running when its temporary output appears. With --jobs 2
# this process renders the last file (b) and starts at once, the worker the first (a) once it
# has loaded: b is the longer, so that both are being written at one time.
SECONDS = {"a": 90.0, "b": 240.0}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("signal-inputs")
    return [write_tone(folder / f"{name}.wav", seconds) for name, seconds in SECONDS.items()]


def _rendering(inputs, tmp_path, *extra):
    """A render of ``inputs`` under way (:func:`start_render`); and its output folder."""
    out = tmp_path / "out"
    return start_render(inputs, out, *extra), out


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_termination_mid_render_cleans_up_like_ctrl_c(inputs, tmp_path, signum):
    # one stereo file: its second channel and the --post effects in a forked channel worker
    proc, out = _rendering(inputs[:1], tmp_path, "--post", "Reverb(room_size=0.3)")
    workers = children(proc.pid)
    assert workers, "the stereo render forked no channel worker"
    os.kill(proc.pid, signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, err
    assert f"terminated by {signal.Signals(signum).name}" in err
    assert "Traceback" not in err
    assert list(out.iterdir()) == []  # neither the output nor its hidden temporary file
    assert wait_gone(workers) == []


def test_sigterm_with_jobs_stops_the_workers_and_their_files(inputs, tmp_path):
    # this process renders one file, a worker the other
    proc, out = _rendering(inputs, tmp_path, "--jobs", "2")
    workers = children(proc.pid)
    os.kill(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err
    assert wait_gone(workers) == []
    assert list(out.iterdir()) == []


def test_a_worker_dies_with_its_killed_parent_and_never_publishes(inputs, tmp_path):
    proc, out = _rendering(inputs, tmp_path, "--jobs", "2")
    workers = children(proc.pid)
    assert workers
    os.kill(proc.pid, signal.SIGKILL)  # no cleanup possible in the parent
    proc.communicate(timeout=60)
    assert wait_gone(workers) == [], "a render worker outlived its parent"
    # The worker renders the first file: it removed its temporary file and published nothing.
    # (The parent's own temporary file of the second stays: SIGKILL cannot be handled.)
    names = [p.name for p in out.iterdir()]
    assert "a.wav" not in names and "b.wav" not in names, names
    assert [p.name for p in temp_files(out) if p.name.startswith(".a.")] == []


def test_a_worker_killed_from_outside_is_one_clear_error(inputs, tmp_path):
    """The parent lives on: it finishes its own file, removes the dead worker's temporary
    file and names the file that worker was rendering."""
    proc, out = _rendering(inputs, tmp_path, "--jobs", "2")
    (worker,) = pool_workers(proc.pid)
    os.kill(worker, signal.SIGKILL)  # the OOM killer's way: no cleanup in the worker
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 2, err
    assert "Traceback" not in err and "BrokenProcessPool" not in err
    last = err.strip().splitlines()[-1]
    assert "a.wav" in last and "worker process rendering it died" in last, err
    assert sorted(p.name for p in out.iterdir()) == ["b.wav"], err


def test_ctrl_c_with_jobs_prints_no_traceback(inputs, tmp_path):
    proc, out = _rendering(inputs, tmp_path, "--jobs", "2")
    workers = children(proc.pid)
    time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal does: the whole process group
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "Exception in thread" not in err, err
    assert err.strip().splitlines()[-1] == "stylepedal render: interrupted"
    assert wait_gone(workers) == []
    assert list(out.iterdir()) == []
    assert not any(running(p) for p in workers)


def test_sigterm_ends_any_command_as_ctrl_c_does(inputs, tmp_path):
    # the per-input optimiser: minutes of work, then one write that must never half-happen
    out = tmp_path / "optimised.wav"
    proc = start_cli("-v", "optimize", str(inputs[0]), str(inputs[0]), str(out),
                     "--seconds", "2", "--iterations", "100000", cwd=tmp_path)
    assert proc.stderr is not None
    line = proc.stderr.readline()  # logged once the work has begun
    assert "optimising" in line, line
    os.kill(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "terminated by SIGTERM" in err and "Traceback" not in err, err
    assert not out.exists() and temp_files(tmp_path) == []


def test_a_stopped_pool_leaves_no_thread_for_the_exit_hook_to_race():
    """``stop_pool`` returns with the workers and the pool's manager thread gone: Python 3.11's
    exit hook wakes a live manager thread through a pipe that thread may be closing (a
    traceback at exit after SIGTERM, seen in a full run)."""
    from concurrent.futures import ProcessPoolExecutor

    from stylepedal.host._signals import stop_pool

    for _ in range(5):
        pool = ProcessPoolExecutor(1)
        future = pool.submit(time.sleep, 60)
        (worker,) = pool._processes.values()
        manager = pool._executor_manager_thread
        time.sleep(0.2)  # the job is running
        stop_pool(pool)
        assert not worker.is_alive() and future.done() and not manager.is_alive()


# A pool worker's job, told to stop by two things at once (its parent's death signal and its own
# check between blocks, or a second signal): the first unwinds it, the rest must not cut its
# cleanup short. The cleanup here writes a marker file after a second SIGTERM has arrived.
_JOB = """
import os, signal, sys
from stylepedal.host import _signals
_signals.start_worker(os.getppid())
marker = sys.argv[2]
with _signals.worker_job():
    try:
        if sys.argv[1] == "orphaned":
            _signals._parent_pid = -1  # as if the parent had died: its check unwinds the job
            _signals.stop_if_orphaned()
        else:
            os.kill(os.getpid(), signal.SIGTERM)
        while True:
            sum(range(10))
    finally:
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):
            sum(range(10))
        with open(marker, "w") as f:
            f.write("cleaned up")
"""


@pytest.mark.parametrize("first", ["signal", "orphaned"])
def test_a_second_stop_does_not_cut_a_worker_jobs_cleanup_short(tmp_path, first):
    import subprocess
    import sys

    marker = tmp_path / "marker"
    proc = subprocess.run([sys.executable, "-c", _JOB, first, str(marker)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr
    assert marker.read_text() == "cleaned up"
