"""Installing and starting: no system library for demo and render; the wheel is complete."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "stylepedal"

# sounddevice without its system library: importing it fails as on a machine without PortAudio
_NO_PORTAUDIO = """
import importlib.abc, json, sys
tried = []
class NoPortAudio(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "sounddevice" or name.startswith("_sounddevice"):
            tried.append(name)
            raise OSError("PortAudio library not found")
        return None
sys.meta_path.insert(0, NoPortAudio())
"""


@pytest.mark.slow
def test_demo_and_render_run_without_portaudio(tmp_path):
    code = _NO_PORTAUDIO + (
        "from stylepedal.host.cli import main\n"
        f"d = {str(tmp_path)!r}\n"
        "codes = [main(['demo', '--seconds', '2', '--out-dir', d]),\n"
        "         main(['render', d + '/input.wav', d + '/out.flac', '--preset', 'Organ',\n"
        "               '--no-progress'])]\n"
        "print(json.dumps({'codes': codes, 'tried': tried,\n"
        "                  'loaded': 'sounddevice' in sys.modules}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got == {"codes": [0, 0], "tried": [], "loaded": False}, out.stderr
    assert (tmp_path / "out.flac").is_file() and (tmp_path / "demo-organ.png").is_file()


def test_the_blocker_does_block_sounddevice():
    """The stand-in for a missing PortAudio makes `stylepedal devices` fail as it would."""
    code = _NO_PORTAUDIO + (
        "from stylepedal.host.cli import main\n"
        "try:\n"
        "    main(['devices'])\n"
        "except OSError as exc:\n"
        "    print(json.dumps({'error': str(exc), 'tried': tried}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got == {"error": "PortAudio library not found", "tried": ["sounddevice"]}


def _package_files() -> set[str]:
    """Every file of the package source a user needs: code and data, no caches."""
    return {
        p.relative_to(ROOT).as_posix()
        for p in PACKAGE.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
        and p.suffix not in (".pyc", ".nbi", ".nbc")
    }


def _copy_source(dest: Path) -> Path:
    """The files a wheel is built from, away from the checkout (the build writes beside them)."""
    src = dest / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(PACKAGE, src / "stylepedal",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.nbi", "*.nbc"))
    return src


@pytest.mark.slow
def test_the_wheel_installs_lists_presets_and_renders(tmp_path):
    """Build the wheel, install it alone in a new venv that borrows this environment's
    dependencies (nothing is downloaded), and run it from a folder without the source."""
    src = _copy_source(tmp_path)
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "-q", "-w", str(dist), str(src)],
        check=True, capture_output=True, text=True, timeout=300,
    )
    (wheel,) = dist.glob("stylepedal-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = _package_files() - names
    assert missing == set(), f"package files not in the wheel (pyproject package-data): {missing}"

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "-q",
                    str(wheel)], check=True, capture_output=True, text=True, timeout=300)
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    # this environment's packages after the venv's own: the wheel's stylepedal comes first
    deps = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    Path(site, "zz_test_dependencies.pth").write_text("\n".join(sorted(deps)) + "\n")

    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(args), cwd=work, env=env, capture_output=True, text=True,
                              timeout=300)

    where = run(str(python), "-c", "import stylepedal; print(stylepedal.__file__)")
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout
    listed = run(str(python), "-m", "stylepedal", "presets", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    names_listed = {p["name"] for p in json.loads(listed.stdout)}
    assert {"Organ", "Strings", "Sax"} <= names_listed

    from pedalboard.io import AudioFile

    t = np.arange(48000) / 48000.0
    x = (0.3 * np.sin(2 * np.pi * 220.0 * t)).astype(np.float32)[None]
    with AudioFile(str(work / "in.wav"), "w", samplerate=48000, num_channels=1) as f:
        f.write(x)
    rendered = run(str(bindir / "stylepedal"), "render", "in.wav", "out.wav", "--preset",
                   "Organ", "--no-progress")
    assert rendered.returncode == 0, rendered.stderr
    with AudioFile(str(work / "out.wav")) as f:
        y = f.read(f.frames)
        assert (f.samplerate, f.frames) == (48000, 48000)
    assert np.isfinite(y).all() and float(np.abs(y).max()) > 1e-3
