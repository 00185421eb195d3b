"""stylepedal._memory and stylepedal._threads: how the heavy entry points use the machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

_PROBE = """
import json, resource
import numpy as np
from stylepedal._memory import keep_freed_memory

def faults():
    r0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(200):  # what the engine does per block: a few multi-MB temporaries
        a = np.ones(800_000, np.float32)
        b = a * 2
        c = np.abs(b)
        del a, b, c
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - r0

before = faults()
ok = keep_freed_memory()
again = keep_freed_memory()
faults()
after = faults()
print(json.dumps({"ok": ok, "again": again, "before": before, "after": after}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt is Linux-only")
def test_keep_freed_memory_stops_page_faults_on_block_buffers():
    # a fresh process: the setting is process-wide and the suite's own process may have it
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True,
                         check=True, timeout=120)
    r = json.loads(out.stdout)
    assert r["ok"] is True and r["again"] is True
    # 200 rounds of 3 x 3.2 MB: glibc maps and trims them every round (~2300 faults a round)
    assert r["before"] > 100_000
    assert r["after"] < r["before"] / 100


def test_single_threaded_math_pins_the_pools_and_restores_them():
    import torch
    from threadpoolctl import threadpool_info, threadpool_limits

    from stylepedal._threads import single_threaded_math

    before_torch = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with threadpool_limits(limits=2):  # whatever the environment says: pools of 2
            assert any(p["num_threads"] == 2 for p in threadpool_info())
            with single_threaded_math():
                assert torch.get_num_threads() == 1
                assert all(p["num_threads"] == 1 for p in threadpool_info())
            assert torch.get_num_threads() == 2
            assert any(p["num_threads"] == 2 for p in threadpool_info())
    finally:
        torch.set_num_threads(before_torch)


_THREADS_PROBE = """
import json
import sys
import numpy  # its BLAS pool: what the engine loads
from threadpoolctl import threadpool_info
from stylepedal._threads import single_threaded_math

with single_threaded_math():
    pools = [p["num_threads"] for p in threadpool_info()]
    torch_loaded = "torch" in sys.modules
print(json.dumps({"pools": pools, "torch": torch_loaded}))
"""


def test_single_threaded_math_pins_the_pools_without_importing_torch():
    # a fresh process where nothing has imported torch: playing a preset never needs it, so
    # pinning the math libraries must not load it (a second of start-up, 200 MB)
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", _THREADS_PROBE], capture_output=True,
                         text=True, check=True, timeout=120, env=env)
    r = json.loads(out.stdout)
    assert r["torch"] is False
    assert r["pools"] and all(n == 1 for n in r["pools"])
