"""The README, the CI script and the CLI stay in step."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```(?:sh|bash|console)?\n(.*?)```", text, flags=re.S)
    return [b.strip() for b in blocks[:2]]


def test_readme_starts_with_the_two_commands():
    text = (ROOT / "README.md").read_text()
    first_block = text.index("```")
    # nothing but a title and a short paragraph before the two commands
    assert first_block < 1200
    demo, tests = readme_commands()
    assert "stylepedal demo" in demo and "pip install" in demo and "torch==2.13.0" in demo
    assert "pytest" in tests and "pip install" in tests and "torch==2.13.0" in tests


def test_ci_runs_exactly_the_readme_test_command():
    _, tests = readme_commands()
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert tests in ci, f"the README's test command is not a line of .ci/run:\n{tests}"


def test_every_cli_command_in_the_readme_exists():
    from stylepedal.host.cli import COMMANDS

    text = (ROOT / "README.md").read_text()
    used = set(re.findall(r"^\s*(?:\$ )?stylepedal ([a-z]+)", text, flags=re.M))
    assert used, "the README shows no stylepedal command"
    assert used <= set(COMMANDS), used - set(COMMANDS)


def test_cli_help_lists_every_command_and_is_fast():
    result = subprocess.run(
        [sys.executable, "-m", "stylepedal.host.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    for name in ("demo", "render", "live", "devices", "presets", "train", "optimize", "eval"):
        assert name in result.stdout
    # --help must not import torch (it takes seconds): commands import it when they run
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, contextlib, io, stylepedal.host.cli as c\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    try: c.main(['--help'])\n"
            "    except SystemExit: pass\n"
            "print('torch' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert probe.stdout.strip() == "False", probe.stdout + probe.stderr


def test_readme_python_example_runs(capsys):
    text = (ROOT / "README.md").read_text()
    code = re.findall(r"```python\n(.*?)```", text, flags=re.S)[0]
    exec(compile(code, "README.md", "exec"), {})
    assert capsys.readouterr().out.strip() == "511"
