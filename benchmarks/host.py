"""Host benchmark: live on a JACK dummy server, and offline rendering of a 4-minute track (JSON).

    python benchmarks/host.py                    # 60 s live + 20 s empty-chain baseline + render
    python benchmarks/host.py --seconds 5 --baseline-seconds 3 --track-seconds 20 \
        --panel-seconds 5 --flood-seconds 5                                       # smoke run

Live: a real sounddevice stream at 48 kHz, block 128 (budget 2.667 ms) through
``Compressor -> style effect -> Reverb`` for ``--seconds``. The style effect is the first factory
preset if the bank has one, else ``StyleTransfer.identity()`` (the JSON says which). Reported:
sounddevice xruns (server-wide; an empty-chain baseline on the same server shows how many the
machine causes by itself), overruns (callbacks longer than the budget), callback median/p99/max,
the effect's share of one core (sum of callback times / wall time) and the process CPU share.
Each phase also counts the JACK server's own log lines by cause (``jack_log``): the dummy
driver's timer woke after the period had ended (``driver_late``, no client involved) or our
client had not finished (``client_not_finished``; ``Triggered``: its thread had not even been
woken yet, ``Running``: it was still running). A last phase runs the server with no client at
all for ``--baseline-seconds`` (``server_alone``): the xruns the machine causes by itself.

Control surfaces: ``live_panel`` runs the same chain with ``--panel`` open while a client
process polls ``GET /api/state`` at 50 Hz and posts a mix change every second, beside
``live_panel_reference`` (the same run without the panel) for ``--panel-seconds``; then a MIDI
controller process on a JACK MIDI port, idle (``midi_idle_port``), flooding 20k msg/s of CCs,
notes, clock and unmapped program changes (``midi_flood_20k``), the same flood sent to a port
the run does not listen to (``midi_flood_20k_unheard``: what the flood costs the machine without
stylepedal's handling), and 20k msg/s of SysEx garbage and stray bytes (``midi_flood_sysex``),
``--flood-seconds`` each. The runs to compare take
turns ``--repeats`` times (the machine's own glitches come and go) and are summed.

Offline: a generated 4-minute stereo 48 kHz track rendered through the same chain (and, with a
factory preset, through the style effect alone, as ``stylepedal render --preset NAME`` does) with
:func:`stylepedal.host.render.render_file` in a child process: x real time, and peak RSS
(``resource.getrusage``) of that process before and after the render. The child keeps the
thread settings the benchmark was started with. Then two such tracks at once with
``stylepedal render --jobs 2`` (one process per file, both cores): the aggregate rate.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The live run pins the math libraries to one thread (the audio callback must not wait for a
# pool); the offline render runs in a child with the user's setting, as `stylepedal render` does.
_CHILD_ENV = dict(os.environ)
if "--offline-only" not in sys.argv and "--offline-jobs" not in sys.argv:
    os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

RATE, BLOCK = 48000, 128


def midi_flood(port: str, kind: str, rate: int, seconds: float) -> None:
    """A MIDI controller gone mad, run as its own process (``--midi-flood PORT``): a virtual
    JACK MIDI output named ``port``; after a line on stdin, ``rate`` messages a second for
    ``seconds``, then one program change 0 (bank 0) and one mix CC 1 = 100; prints the count
    and keeps the port open until the next line (or end) of stdin.

    ``kind="cc"``: mix CCs, notes, clock and unmapped program changes (127);
    ``"sysex"``: SysEx of random garbage (3-200 bytes) and stray bytes with no status.
    """
    import rtmidi

    rng = np.random.default_rng(1)
    messages = []  # one second's worth, made before the clock starts: sending is all it does
    for _ in range(max(1, rate)):
        r = int(rng.integers(0, 100))
        if kind == "sysex":
            if r < 70:
                body = rng.integers(0, 128, int(rng.integers(1, 199))).tolist()
                messages.append([0xF0, *body, 0xF7])
            else:
                messages.append(rng.integers(0, 128, int(rng.integers(1, 4))).tolist())
        elif r < 60:
            messages.append([0xB0, 1, int(rng.integers(0, 128))])
        elif r < 80:
            messages.append([0x90, int(rng.integers(0, 128)), 100])
        elif r < 90:
            messages.append([0xF8])
        else:
            messages.append([0xC0, 127])
    out = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK)
    out.open_virtual_port(port)
    print("ready", flush=True)
    sys.stdin.readline()
    burst = max(1, int(rate * 0.002))  # one burst every 2 ms
    send = out.send_message
    sent, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(burst):
            send(messages[sent % len(messages)])
            sent += 1
        time.sleep(max(0.0, start + sent / rate - time.perf_counter()))
    time.sleep(0.05)
    out.send_message([0xB0, 0, 0])
    out.send_message([0xC0, 0])
    out.send_message([0xB0, 1, 100])
    time.sleep(0.2)
    print(json.dumps({"sent": sent + 3, "seconds": round(time.perf_counter() - start, 3)}),
          flush=True)
    # A JACK client leaving the graph makes the dummy driver glitch: stay until told to go.
    sys.stdin.readline()
    out.close_port()


def start_jack(name: str, log_path: Path) -> subprocess.Popen:
    os.environ["JACK_DEFAULT_SERVER"] = name
    os.environ["JACK_NO_AUDIO_RESERVATION"] = "1"
    base = ["-d", "dummy", "-r", str(RATE), "-p", str(BLOCK), "-C", "2", "-P", "2"]
    log = open(log_path, "w")  # noqa: SIM115 - closed with the process
    for prefix in (["-R", "-P", "70"], []):
        proc = subprocess.Popen(["jackd", *prefix, *base], stdout=log, stderr=subprocess.STDOUT)
        ok = subprocess.run(["jack_wait", "-w", "-t", "10", "-s", name], capture_output=True,
                            check=False)
        if proc.poll() is None and ok.returncode == 0:
            return proc
        proc.terminate()
        proc.wait(timeout=10)
    raise SystemExit(f"jackd did not start; see {log_path}")


def jack_log_counts(text: str) -> dict:
    """The JACK server's xrun log lines in ``text``, by cause."""
    lines = text.splitlines()
    return {
        "driver_late": sum("JackTimedDriver::Process XRun" in line for line in lines),
        "client_not_finished": sum("was not finished" in line for line in lines),
        "client_not_woken": sum("not finished, state = Triggered" in line for line in lines),
        "client_still_running": sum("not finished, state = Running" in line for line in lines),
    }


class JackLog:
    """Reads the server's log phase by phase."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset = path, 0

    def since_last(self) -> dict:
        data = self.path.read_bytes()
        text, self.offset = data[self.offset :].decode(errors="replace"), len(data)
        return jack_log_counts(text)


@contextlib.contextmanager
def jack_server(name: str):
    """A JACK dummy server ``name`` for the block; yields its :class:`JackLog` (``.path``)."""
    log_path = Path(tempfile.mkdtemp(prefix="stylepedal-jack-")) / "jackd.log"
    proc = start_jack(name, log_path)
    try:
        yield JackLog(log_path)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextlib.contextmanager
def sounddevice_on_jack():
    """PortAudio restarted so that it sees the server :func:`start_jack` named; its JACK
    client leaves the server at the end of the block."""
    import sounddevice as sd

    sd._terminate()
    sd._initialize()
    try:
        yield
    finally:
        sd._terminate()


# The MIDI phases: an idle port, then floods on it; their xruns compare with the idle one's.
FLOOD_PHASES = (("midi_idle_port", None), ("midi_flood_20k_unheard", "cc-unheard"),
                ("midi_flood_20k", "cc"), ("midi_flood_sysex", "sysex"))


def flood_group() -> list:
    """The MIDI phases as a group for :func:`take_turns`."""
    return [(key, live_with_midi_flood, (kind,)) for key, kind in FLOOD_PHASES]


def take_turns(group: list, seconds: float, make_effect, log: JackLog, repeats: int) -> dict:
    """Run each ``(key, run, extra)`` of ``group`` for ``seconds``, in turns, ``repeats``
    times (the machine's own glitches come and go over minutes); each key's runs combined."""
    runs: dict = {key: [] for key, _, _ in group}
    for _ in range(repeats):
        for key, run, extra in group:
            runs[key].append(run(seconds, make_effect, *extra))
            runs[key][-1]["jack_log"] = log.since_last()
    return {key: combine(r) for key, r in runs.items()}


def pick_effect():
    """The first factory preset's effect, else the identity effect; how it was chosen; and the
    preset's name (None for the identity effect)."""
    from stylepedal.effect import StyleTransfer
    from stylepedal.presets.store import Store

    entries = Store().factory_entries()
    if entries:
        name = entries[0].name
        return (lambda: StyleTransfer.from_preset(name)), f"factory preset {name!r}", name
    return (StyleTransfer.identity, "StyleTransfer.identity() (no factory preset in the bank)",
            None)


def default_stylenet_effect():
    """A StyleTransfer with an untrained network of the default size: a trained preset's cost."""
    from stylepedal.effect import StyleTransfer
    from stylepedal.effect.model.network import StyleNet

    return StyleTransfer(StyleNet().as_transform(), name="untrained default StyleNet")


def make_chain(make_effect):
    import pedalboard

    from stylepedal.host.chain import Chain

    return Chain(
        [pedalboard.Compressor(threshold_db=-20, ratio=3), make_effect(),
         pedalboard.Reverb(room_size=0.3)]
    )


def _steal_ms() -> float | None:
    """CPU time the hypervisor took from this VM so far (all CPUs, /proc/stat), in ms."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
        return int(fields[8]) * 1000.0 / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def _steal_since(before: float | None) -> float | None:
    """ms of CPU the hypervisor took since ``before`` (a :func:`_steal_ms` reading)."""
    now = _steal_ms()
    return None if before is None or now is None else round(now - before, 1)


def live(seconds: float, make_effect, empty: bool = False, **run_kwargs) -> dict:
    """One live run (``run_kwargs`` go to ``run_live``: a panel, a MIDI port...)."""
    from stylepedal.host.chain import Chain
    from stylepedal.host.live import run_live
    from stylepedal.presets.midimap import MidiMap

    factory = (lambda name: Chain()) if empty else (lambda name: make_chain(make_effect))
    run_kwargs.setdefault("midimap", MidiMap([]))
    steal0 = _steal_ms()
    s = run_live(factory, "bench", sample_rate=RATE, blocksize=BLOCK, seconds=seconds,
                 status_stream=open(os.devnull, "w"), **run_kwargs)  # noqa: SIM115
    steal = _steal_since(steal0)
    budget = s["budget_ms"]
    extra = {k: s[k] for k in ("panel", "commands", "midi", "preset") if k in s}
    return {**extra,
        "seconds": s["seconds"],
        "callbacks": s["callbacks"],
        "xruns": s["xruns"],
        "xrun_at_callback": s["xrun_at_callback"],
        "overruns": s["overruns"],
        "faults": s["faults"],
        "budget_ms": budget,
        "callback_ms": s["callback_ms"],
        "p99_over_budget": round(s["callback_ms"]["p99"] / budget, 4),
        # the callback's wall time per unit of real time, and its CPU time (the thread's own
        # clock: without the time the thread was descheduled while in the callback)
        "effect_core_share": s["callback_load"],
        "effect_core_share_cpu": s["callback_cpu_load"],
        "process_cpu_share": s["cpu_share"],
        "chain_latency_samples": s["chain_latency_samples"],
        # time the hypervisor ran something else on our CPUs during the run (10 ms ticks):
        # non-zero means the VM itself was descheduled, which no callback can make up for
        "vm_steal_ms": steal,
    }


def panel_client(seconds: float, poll_hz: float = 50.0) -> dict:
    """A script polling ``GET /api/state`` at ``poll_hz`` and posting a mix change every second
    for ``seconds``, over one keep-alive connection as a browser keeps (run as its own process,
    ``--panel-client SECONDS``, started before the run; it reads the panel's URL from stdin)."""
    import http.client
    from urllib.parse import urlsplit

    url = urlsplit(sys.stdin.readline().strip())
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=2)
    polls = posts = errors = 0
    times = []
    start = time.perf_counter()
    next_post = start + 1.0
    while (now := time.perf_counter()) - start < seconds:
        if now >= next_post:
            body = json.dumps({"mix": 0.5 if posts % 2 else 1.0})
            request = ("POST", "/api/params", body)
            next_post += 1.0
            posts += 1
        else:
            request = ("GET", "/api/state", None)
            polls += 1
        t = time.perf_counter()
        try:
            conn.request(*request, headers={"Content-Type": "application/json"})
            reply = conn.getresponse()
            reply.read()
            errors += reply.status != 200
        except (OSError, http.client.HTTPException):
            errors += 1
            conn.close()
            conn = http.client.HTTPConnection(url.hostname, url.port, timeout=2)
        times.append(1000 * (time.perf_counter() - t))
        time.sleep(max(0.0, start + (polls + posts) / poll_hz - time.perf_counter()))
    t_ms = np.array(times) if times else np.zeros(1)
    return {"polls": polls, "posts": posts, "errors": errors,
            "polls_per_s": round(polls / seconds, 1),
            "response_ms": {"median": round(float(np.median(t_ms)), 2),
                            "p99": round(float(np.percentile(t_ms, 99)), 2)}}


def live_with_panel(seconds: float, make_effect) -> dict:
    """The live run with ``--panel`` open and a client process polling it."""
    from stylepedal.host.control import PresetInfo

    client = subprocess.Popen([sys.executable, __file__, "--panel-client", str(seconds - 1.0)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def start_client(engine, loader):
        client.stdin.write(engine.surfaces.panel.url + "\n")
        client.stdin.flush()

    try:
        result = live(seconds, make_effect, panel="127.0.0.1:0",
                      presets=[PresetInfo("bench", 0)], on_started=start_client)
        out, _ = client.communicate(timeout=30)
    finally:
        client.kill()
        client.wait(timeout=10)
    result["client"] = json.loads(out.strip().splitlines()[-1])
    return result


def live_with_midi_flood(seconds: float, make_effect, kind: str | None) -> dict:
    """The live run with a MIDI controller process on a JACK MIDI port: idle (``kind`` None),
    a 20k msg/s flood (``"cc"``) or SysEx garbage (``"sysex"``) at 20k msg/s. With
    ``"cc-unheard"`` the flood goes to a port nobody listens to while the live run listens to
    an idle one: the flood's cost to the machine (sender, JACK) without stylepedal's handling."""
    flood = kind.removesuffix("-unheard") if kind else None
    heard = kind == flood
    port = f"sp-bench-{kind or 'idle'}"

    def controller(name: str, what: str | None) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, __file__, "--midi-flood", name, what or "cc",
             str(20000 if what else 1), str(seconds - 1.0)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout.readline().strip() == "ready"
        return proc

    procs: list[subprocess.Popen] = []
    try:
        flooder = controller(port if heard else "sp-bench-elsewhere", flood)
        if not heard:
            controller(port, None)  # the idle port the live run listens to

        def go(engine, loader):
            for proc in procs:
                proc.stdin.write("go\n")
                proc.stdin.flush()

        result = live(seconds, make_effect, midi_port=port, midi_backend="jack",
                      on_started=go)
        result["sent"] = json.loads(flooder.stdout.readline())["sent"]
        for proc in procs:
            proc.stdin.close()  # the controller leaves after the run: leaving glitches JACK
            proc.wait(timeout=10)
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(timeout=10)
    if flood is None:
        result["flood"] = "idle port"
    else:
        result["flood"] = f"{flood} at 20000 msg/s" + ("" if heard else " to another port")
    return result


def combine(runs: list[dict]) -> dict:
    """Runs of one kind as one: counts summed, callback p99 and CPU as the mean of the runs
    (each run's own figures are kept under ``runs``)."""
    total = {"runs": runs, "seconds": round(sum(r["seconds"] for r in runs), 3)}
    for key in ("callbacks", "xruns", "overruns", "faults"):
        total[key] = sum(r[key] for r in runs)
    total["jack_log"] = {k: sum(r["jack_log"][k] for r in runs) for k in runs[0]["jack_log"]}
    total["callback_p99_ms"] = round(float(np.mean([r["callback_ms"]["p99"] for r in runs])), 4)
    total["callback_max_ms"] = max(r["callback_ms"]["max"] for r in runs)
    total["process_cpu_share"] = round(float(np.mean([r["process_cpu_share"] for r in runs])), 4)
    steal = [r["vm_steal_ms"] for r in runs if r["vm_steal_ms"] is not None]
    total["vm_steal_ms"] = round(sum(steal), 1) if steal else None
    for key in ("client", "sent"):
        if key in runs[0]:
            total[key] = [r[key] for r in runs]
    return total


def write_track(path: Path, seconds: int) -> None:
    """A plucked-guitar-like stereo track: decaying harmonic notes plus a little noise."""
    from pedalboard.io import AudioFile

    rng = np.random.default_rng(0)
    chunk = 10 * RATE
    t = np.arange(chunk) / RATE
    with AudioFile(str(path), "w", samplerate=RATE, num_channels=2, bit_depth=16) as f:
        for _ in range(seconds // 10):
            y = np.zeros(chunk)
            for start in range(0, chunk, RATE // 4):
                f0 = 82.4 * 2 ** (rng.integers(0, 24) / 12)
                tt = t[: chunk - start]
                note = sum(np.sin(2 * np.pi * f0 * k * tt) / k for k in (1, 2, 3, 4))
                y[start:] += 0.15 * note * np.exp(-tt * 4)
            stereo = np.stack([y, np.roll(y, 240)]) + 0.003 * rng.standard_normal((2, chunk))
            f.write(np.clip(stereo, -1, 1).astype(np.float32))


def _current_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def offline(track_seconds: int, make_effect, preset_only: bool = False) -> dict:
    """Render a generated track through the live chain (or the effect alone)."""
    from stylepedal.host.chain import Chain
    from stylepedal.host.render import render_file

    folder = Path(tempfile.mkdtemp(prefix="stylepedal-bench-"))
    try:
        src = folder / "track.wav"
        write_track(src, track_seconds)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        rss_now = _current_rss_mb()
        chain = Chain([make_effect()]) if preset_only else make_chain(make_effect)
        result = render_file(src, folder / "out.wav", chain, progress=False)
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        # the channel workers (forked, so most of their pages are shared with this process)
        rss_workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        return {
            "chain": "effect alone" if preset_only else "the live chain",
            "track_seconds": track_seconds,
            "channels": result.channels,
            "sample_rate": result.sample_rate,
            "frames": result.frames,
            "render_seconds": round(result.seconds, 3),
            "x_realtime": round(result.realtime_factor, 2),
            "rss_mb_at_render_start": round(rss_now, 1),
            "peak_rss_mb_before_render": round(rss_before, 1),
            "peak_rss_mb_after_render": round(rss_after, 1),
            "peak_rss_mb_channel_worker": round(rss_workers, 1),
            "decoded_track_mb_float32": round(result.frames * 2 * 4 / 2**20, 1),
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def offline_jobs(track_seconds: int, preset: str, files: int = 2) -> dict:
    """``stylepedal render`` of ``files`` tracks with ``--jobs files``: the aggregate rate,
    wall time from the command's start (worker start-up and model loading included)."""
    from stylepedal.host.cli import main as cli_main

    folder = Path(tempfile.mkdtemp(prefix="stylepedal-bench-"))
    try:
        src = folder / "track0.wav"
        write_track(src, track_seconds)
        paths = [src]
        for i in range(1, files):
            paths.append(folder / f"track{i}.wav")
            shutil.copyfile(src, paths[-1])
        out = folder / "out"
        out.mkdir()
        t = time.perf_counter()
        code = cli_main(["render", *map(str, paths), "--out-dir", str(out), "--preset", preset,
                         "--pre", "Compressor(threshold_db=-20, ratio=3)",
                         "--post", "Reverb(room_size=0.3)", "--jobs", str(files),
                         "--no-progress"])
        wall = time.perf_counter() - t
        assert code == 0
        return {
            "files": files,
            "track_seconds": track_seconds,
            "wall_seconds": round(wall, 3),
            "aggregate_x_realtime": round(files * track_seconds / wall, 2),
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="live run with the chain")
    ap.add_argument("--baseline-seconds", type=float, default=20.0,
                    help="live run with an empty chain (server xruns); 0 to skip")
    ap.add_argument("--track-seconds", type=int, default=240, help="offline track length")
    ap.add_argument("--stylenet-seconds", type=float, default=20.0,
                    help="without a factory preset: also run live with an untrained network of "
                         "the default size (its compute equals a trained one's); 0 to skip")
    ap.add_argument("--offline-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--preset-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--stylenet", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--offline-jobs", metavar="PRESET", help=argparse.SUPPRESS)
    ap.add_argument("--panel-seconds", type=float, default=30.0,
                    help="live runs with and without the web panel polled at 50 Hz; 0 to skip")
    ap.add_argument("--flood-seconds", type=float, default=20.0,
                    help="live runs with an idle MIDI port, a 20k msg/s flood and SysEx "
                         "garbage; 0 to skip")
    ap.add_argument("--repeats", type=int, default=3,
                    help="the panel and MIDI runs take turns this many times (summed)")
    ap.add_argument("--midi-flood", nargs=4, metavar=("PORT", "KIND", "RATE", "SECONDS"),
                    help=argparse.SUPPRESS)
    ap.add_argument("--panel-client", type=float, metavar="SECONDS", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.panel_client:
        print(json.dumps(panel_client(args.panel_client)))
        return 0
    if args.midi_flood:
        port, kind, rate, secs = args.midi_flood
        midi_flood(port, kind, int(rate), float(secs))
        return 0
    if args.offline_jobs:
        print(json.dumps(offline_jobs(args.track_seconds, args.offline_jobs)))
        return 0
    if args.offline_only:
        # Run in a child process so that its peak RSS is the render's alone. Threads are left
        # at their defaults, as in `stylepedal render` (the live run pins torch to 1 thread).
        make_effect, _, _ = pick_effect()
        if args.stylenet:
            make_effect = default_stylenet_effect
        print(json.dumps(offline(args.track_seconds, make_effect, args.preset_only)))
        return 0

    import torch

    torch.set_num_threads(1)
    make_effect, effect_desc, preset = pick_effect()
    report: dict = {"benchmark": "host", "effect": effect_desc,
                    "chain": "Compressor(threshold_db=-20, ratio=3) -> effect -> "
                             "Reverb(room_size=0.3)",
                    "machine": {"cpus": os.cpu_count(), "load_avg_1m": os.getloadavg()[0]}}
    with jack_server(f"stylepedal-bench-{os.getpid()}") as log:
        with sounddevice_on_jack():
            log.since_last()  # the server's start-up
            report["live"] = live(args.seconds, make_effect)
            report["live"]["jack_log"] = log.since_last()
            if args.stylenet_seconds > 0 and preset is None:
                report["live_default_stylenet"] = live(args.stylenet_seconds,
                                                       default_stylenet_effect)
                report["live_default_stylenet"]["jack_log"] = log.since_last()
            if args.panel_seconds > 0:
                # the same chain without and then with the panel open and polled
                report.update(take_turns(
                    [("live_panel_reference", live, ()), ("live_panel", live_with_panel, ())],
                    args.panel_seconds / args.repeats, make_effect, log, args.repeats))
            if args.flood_seconds > 0:
                report.update(take_turns(flood_group(), args.flood_seconds / args.repeats,
                                         make_effect, log, args.repeats))
            if args.baseline_seconds > 0:
                report["live_empty_chain_baseline"] = live(args.baseline_seconds, make_effect,
                                                           empty=True)
                report["live_empty_chain_baseline"]["jack_log"] = log.since_last()
        if args.baseline_seconds > 0:
            time.sleep(1.0)
            log.since_last()
            steal0 = _steal_ms()
            time.sleep(args.baseline_seconds)
            report["server_alone"] = {
                "seconds": args.baseline_seconds,
                "jack_log": log.since_last(),
                "vm_steal_ms": _steal_since(steal0),
            }
    report["jack_driver_xrun_lines"] = sum(
        "XRun" in line for line in log.path.read_text(errors="replace").splitlines()
    )
    started = time.perf_counter()
    child = subprocess.run(
        [sys.executable, __file__, "--offline-only", "--track-seconds", str(args.track_seconds)],
        capture_output=True, text=True, check=True, env=_CHILD_ENV,
    )
    report["offline"] = json.loads(child.stdout.strip().splitlines()[-1])
    report["offline"]["peak_rss_mb_process"] = round(
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1
    )
    report["offline"]["wall_seconds_incl_track_generation"] = round(
        time.perf_counter() - started, 2
    )
    if preset is not None:
        # the same track through the style effect alone (`stylepedal render --preset NAME`)
        child = subprocess.run(
            [sys.executable, __file__, "--offline-only", "--preset-only",
             "--track-seconds", str(args.track_seconds)],
            capture_output=True, text=True, check=True, env=_CHILD_ENV,
        )
        report["offline_effect_alone"] = json.loads(child.stdout.strip().splitlines()[-1])
        report["offline_effect_alone"]["peak_rss_mb_process"] = round(
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1
        )
        # two tracks at once, one process each (`render --jobs 2`): what both cores give
        child = subprocess.run(
            [sys.executable, __file__, "--offline-jobs", preset,
             "--track-seconds", str(args.track_seconds)],
            capture_output=True, text=True, check=True, env=_CHILD_ENV,
        )
        report["offline_two_tracks_jobs_2"] = json.loads(child.stdout.strip().splitlines()[-1])
    if args.stylenet_seconds > 0 and preset is None:
        child = subprocess.run(
            [sys.executable, __file__, "--offline-only", "--stylenet", "--track-seconds", "30"],
            capture_output=True, text=True, check=True, env=_CHILD_ENV,
        )
        report["offline_default_stylenet_30s"] = json.loads(child.stdout.strip().splitlines()[-1])
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
