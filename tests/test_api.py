"""The top-level API: ``from stylepedal import StyleTransfer, Chain, load_preset``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import stylepedal


def test_top_level_names_load_lazily_and_play_a_preset_without_torch():
    code = (
        "import json, sys\n"
        "import stylepedal\n"
        "lazy = [n in sys.modules for n in ('stylepedal.host.chain', 'stylepedal.presets.load',"
        " 'stylepedal.effect.engine.effect')]\n"
        "from stylepedal import StyleTransfer, Chain, load_preset, BusyError\n"
        "import numpy as np\n"
        "fx = load_preset('Organ', mix=0.5)\n"
        "y = Chain([fx])(np.zeros(4800, np.float32), 48000)\n"
        "print(json.dumps({'lazy': lazy, 'torch': 'torch' in sys.modules,\n"
        "                  'type': type(fx).__name__, 'is_cls': type(fx) is StyleTransfer,\n"
        "                  'mix': fx.mix, 'shape': list(y.shape)}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got == {"lazy": [False, False, False], "torch": False, "type": "StyleTransfer",
                   "is_cls": True, "mix": 0.5, "shape": [4800]}


def test_names_are_listed_and_unknown_ones_are_attribute_errors():
    assert {"StyleTransfer", "Chain", "load_preset", "BusyError"} <= set(dir(stylepedal))
    assert set(stylepedal.__all__) == set(dir(stylepedal))
    with pytest.raises(AttributeError, match="no_such_name"):
        stylepedal.no_such_name  # noqa: B018
