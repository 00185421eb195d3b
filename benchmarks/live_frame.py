"""Live-path cost of one frame with warm and with cold caches (JSON).

    python benchmarks/live_frame.py              # 3000 calls per measure
    python benchmarks/live_frame.py --calls 500  # smoke run

A live stream calls the effect every 2.667 ms (48 kHz, block 128) and a frame falls in every
second call; in between the thread sleeps and the caches go cold. So each measure is taken twice:
``hot`` (calls back to back) and ``paced`` (a sleep of ``--pause`` seconds between calls, as in a
stream). Measures, in microseconds per call (median, mean and 99th percentile, where the
colour stage's redesign every 16 frames shows):

* ``network_kernel``: the first factory preset's network, one frame per call, through the
  compiled kernel (float16 weights), as the live path runs it;
* ``network_blas``: the same frames through the BLAS path (float32 weights), as before the
  kernel;
* ``effect_frame_block`` / ``effect_other_block``: the whole mono ``StyleTransfer`` on 128-sample
  blocks, the blocks that complete a frame and the ones in between; ``effect_core_share`` is
  their mean over the 2.667 ms a block lasts.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

RATE, BLOCK = 48000, 128


def _timed(call, n: int, pause: float) -> np.ndarray:
    times = np.empty(n)
    for i in range(n):
        t0 = time.perf_counter()
        call(i)
        times[i] = time.perf_counter() - t0
        if pause:
            time.sleep(pause)
    return times[n // 10 :] * 1e6  # without the first tenth (warm-up)


def _stats(us: np.ndarray) -> dict:
    return {"median_us": round(float(np.median(us)), 1), "mean_us": round(float(us.mean()), 1),
            "p99_us": round(float(np.percentile(us, 99)), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--pause", type=float, default=0.0026, help="seconds between paced calls")
    args = parser.parse_args()

    import stylepedal.effect.model.stream as network
    from stylepedal.effect import StyleTransfer
    from stylepedal.presets.store import Store

    name = Store().factory_entries()[0].name
    transform = StyleTransfer.from_preset(name).transform
    rng = np.random.default_rng(0)
    frames = (rng.random((1, 64, 1030)) * 3).astype(np.float32)
    audio = (0.2 * rng.standard_normal((1, BLOCK * args.calls))).astype(np.float32)
    out: dict = {"benchmark": "live_frame", "preset": name, "calls": args.calls,
                 "pause_s": args.pause, "kernel_reads_float16": transform.half_weights}
    limit = network.KERNEL_MAX_FRAMES
    for label, pause in (("hot", 0.0), ("paced", args.pause)):
        res: dict = {}
        for kind, frames_limit in (("network_kernel", limit), ("network_blas", 0)):
            network.KERNEL_MAX_FRAMES = frames_limit
            state = transform.new_state(1)
            res[kind] = _stats(
                _timed(lambda i, s=state: transform(frames[:, i % 64 : i % 64 + 1], s),
                       args.calls, pause)
            )
        network.KERNEL_MAX_FRAMES = limit
        effect = StyleTransfer.from_preset(name)
        times = _timed(
            lambda i, fx=effect: fx.process(audio[:, i * BLOCK : (i + 1) * BLOCK], RATE,
                                            reset=False),
            args.calls, pause,
        )
        # the frame falls in the blocks whose end crosses a 256-sample hop; the tenth dropped
        # by _timed is even, so the parity of the index still tells them apart
        first = args.calls // 10
        index = np.arange(first, args.calls)
        completes = ((index + 1) * BLOCK) // 256 > (index * BLOCK) // 256
        res["effect_frame_block"] = _stats(times[completes])
        res["effect_other_block"] = _stats(times[~completes])
        res["effect_core_share"] = round(float(times.mean()) / (1e6 * BLOCK / RATE), 4)
        out[label] = res
    print(json.dumps(out))


if __name__ == "__main__":
    main()
