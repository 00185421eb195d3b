"""The command line as a user meets it: help on everything in plain words, quiet broken pipes,
its own logger only, a JSON summary from render, a word while the kernels compile."""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from stylepedal.host.cli import EXIT_BROKEN_PIPE, build_parser, main

ROOT = Path(__file__).resolve().parents[3]

# words from the project's history that mean nothing to a user
INTERNAL = re.compile(r"\bseeds\b|\bseeds'|\bseed \d{3}\b|alishdipani|\bthe paper\b", re.I)


def _parsers(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ("stylepedal",)
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser, str | None]]:
    """Every parser with its command path and the help its parent lists it with."""
    yield path, parser, None
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            listed = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                for p_path, p, p_help in _parsers(sub, (*path, name)):
                    yield p_path, p, listed.get(name) if p is sub else p_help


def test_every_argument_has_help_in_the_users_words():
    missing, internal, seen = [], [], 0
    for path, parser, listed_help in _parsers(build_parser()):
        command = " ".join(path)
        texts = [parser.description or "", parser.epilog or ""]
        if len(path) > 1:
            if not listed_help:
                missing.append(command)
            texts.append(listed_help or "")
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction | argparse._HelpAction):
                continue
            seen += 1
            name = "/".join(action.option_strings) or action.dest
            if action.help is None or not action.help.strip():
                missing.append(f"{command} {name}")
            elif action.help != argparse.SUPPRESS:
                texts.append(action.help)
        internal += [f"{command}: {m.group(0)!r} in {t!r}" for t in texts
                     if (m := INTERNAL.search(t))]
    assert seen > 80  # the walk reached the sub-commands' arguments
    assert missing == [], f"arguments or commands without help: {missing}"
    assert internal == [], "\n".join(internal)


def test_the_walk_finds_what_it_looks_for():
    parser = argparse.ArgumentParser(prog="x")
    sub = parser.add_subparsers()
    p = sub.add_parser("a")  # listed without help
    p.add_argument("name")  # no help
    p.add_argument("--k", help="as the seeds' optimiser did")
    found = [(path, [a.help for a in q._actions]) for path, q, _ in _parsers(parser)]
    assert [f[0] for f in found] == [("stylepedal",), ("stylepedal", "a")]
    assert found[1][1][1:] == [None, "as the seeds' optimiser did"]
    assert INTERNAL.search(found[1][1][2])


@pytest.mark.parametrize("argv", [["presets", "list"], ["presets", "list", "--json"]])
def test_a_closed_pipe_ends_quietly(argv):
    """`stylepedal presets list | head -1`: the reader is gone before the output is written."""
    read, write = os.pipe()
    os.close(read)  # nobody will read: the first write fails with EPIPE
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "stylepedal", *argv], stdout=write,
                          stderr=subprocess.PIPE, text=True, timeout=120, env=env)
    os.close(write)
    assert proc.stderr == ""
    assert proc.returncode == EXIT_BROKEN_PIPE


def test_the_cli_configures_only_its_own_logger(capsys):
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    assert main(["presets", "list", "--json"]) == 0
    assert (list(root.handlers), root.level) == before
    mine = logging.getLogger("stylepedal")
    assert mine.level == logging.INFO and mine.handlers
    capsys.readouterr()
    logging.getLogger("stylepedal.host.render").info("a render finished")
    assert capsys.readouterr().err == "stylepedal: a render finished\n"
    # calling it again does not print everything twice
    assert main(["presets", "list", "--json"]) == 0
    capsys.readouterr()
    logging.getLogger("stylepedal.presets").warning("once")
    assert capsys.readouterr().err == "stylepedal: once\n"


def test_other_libraries_messages_carry_no_stylepedal_prefix():
    code = (
        "import logging\n"
        "from stylepedal.host.cli import main\n"
        "main(['presets', 'list', '--json'])\n"
        "logging.getLogger('matplotlib.font_manager').warning('font cache rebuilt')\n"
        "logging.getLogger('stylepedal.x').info('ours')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=env, check=True)
    assert proc.stderr.splitlines() == ["font cache rebuilt", "stylepedal: ours"]


def _tone(path: Path, sample_rate: int = 48000, seconds: float = 1.0) -> Path:
    from pedalboard.io import AudioFile

    t = np.arange(int(sample_rate * seconds)) / sample_rate
    x = (0.3 * np.sin(2 * np.pi * 196.0 * t)).astype(np.float32)[None]
    with AudioFile(str(path), "w", samplerate=sample_rate, num_channels=1) as f:
        f.write(x)
    return path


@pytest.mark.slow
def test_render_json_prints_one_summary(tmp_path, capsys):
    a, b = _tone(tmp_path / "a.wav"), _tone(tmp_path / "b.wav", seconds=0.5)
    out = tmp_path / "out"
    out.mkdir()
    code = main(["render", str(a), str(b), "--out-dir", str(out), "--preset", "Organ",
                 "--no-progress", "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["preset"] == "Organ" and summary["plot"] is None
    files = summary["files"]
    assert [(f["input"], f["output"], f["frames"], f["sample_rate"], f["channels"])
            for f in files] == [(str(a), str(out / "a.wav"), 48000, 48000, 1),
                                (str(b), str(out / "b.wav"), 24000, 48000, 1)]
    assert all(f["latency_samples"] > 0 and f["realtime_factor"] > 0 for f in files)


@pytest.mark.slow
def test_a_notice_while_the_kernels_compile_and_only_then(tmp_path):
    """A numba cache of its own: the first render compiles and says so, the second loads."""
    from stylepedal.effect.engine._jit import COMPILE_NOTICE

    src = _tone(tmp_path / "in.wav", seconds=0.3)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    runs = []
    for out in ("a.wav", "b.wav"):
        proc = subprocess.run(
            [sys.executable, "-m", "stylepedal", "render", str(src), str(tmp_path / out),
             "--preset", "Organ", "--no-progress"],
            capture_output=True, text=True, timeout=300, env=env,
        )
        assert proc.returncode == 0, proc.stderr
        runs.append(proc.stderr.count(COMPILE_NOTICE))
    assert runs == [1, 0]
    assert any((tmp_path / "numba").rglob("*.nbi"))
