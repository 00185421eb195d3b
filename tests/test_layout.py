"""The package's architecture, checked: rooms, the direction of imports, torch-free playing."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "stylepedal"
MAX_LINES = 600


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, *, top_level_only: bool) -> set[str]:
    """Modules ``name`` imports (absolute names), at module level only or anywhere."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if top_level_only and isinstance(node, ast.If):  # `if TYPE_CHECKING:` imports nothing
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            # `from . import kernels` imports a module
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def test_no_module_is_over_600_lines():
    long = {n: len(p.read_text().splitlines()) for n, p in _modules().items()}
    assert {n: k for n, k in long.items() if k > MAX_LINES} == {}


def test_no_import_cycle_at_import_time():
    modules = _modules()
    graph = {
        n: {m for m in _imports(n, p, top_level_only=True) if m in modules and m != n}
        for n, p in modules.items()
    }
    # a package's __init__ runs before its modules: importing a.b imports a first
    for n in modules:
        parent = n.rpartition(".")[0]
        if parent in modules:
            graph[n].add(parent)
    state: dict[str, int] = {}

    def visit(n: str, path: list[str]) -> None:
        state[n] = 1
        for m in graph[n]:
            if state.get(m) == 1 and not n.startswith(m + "."):  # a child naming its parent
                raise AssertionError(f"import cycle: {' -> '.join([*path, n, m])}")
            if m not in state:
                visit(m, [*path, n])
        state[n] = 2

    for n in graph:
        if n not in state:
            visit(n, [])


def test_argparse_only_in_host_cli():
    users = {
        n for n, p in _modules().items()
        if "argparse" in _imports(n, p, top_level_only=False)
    }
    assert users and all(n.startswith("stylepedal.host.cli") for n in users), users


def test_cli_modules_import_only_argparse_at_module_level():
    allowed = {"__future__", "argparse", "typing", "typing.Any", "typing.TYPE_CHECKING"}
    for n, p in _modules().items():
        if not n.startswith("stylepedal.host.cli.") or n.endswith("__main__"):
            continue
        extra = {
            m for m in _imports(n, p, top_level_only=True)
            if m not in allowed and not m.startswith("stylepedal.host.cli")
            and not m.startswith("__future__")
        }
        assert extra == set(), (n, extra)


# the rooms and what each may import from the package (engine <- model <- presets <- host;
# research is used by the CLI and the benchmarks only)
_ROOMS = {
    "stylepedal.effect.engine": {"stylepedal.effect.engine"},
    "stylepedal.effect.model": {"stylepedal.effect.engine", "stylepedal.effect.model"},
    "stylepedal.effect.research": {
        "stylepedal.effect.engine", "stylepedal.effect.model", "stylepedal.effect.research",
    },
    "stylepedal.presets": {"stylepedal.effect.engine", "stylepedal.effect.model",
                           "stylepedal.presets"},
    "stylepedal.host": {"stylepedal.effect", "stylepedal.effect.engine",
                        "stylepedal.effect.model", "stylepedal.presets", "stylepedal.host"},
}
_SHARED = {"stylepedal", "stylepedal.errors", "stylepedal._validate", "stylepedal._atomic",
           "stylepedal._random",
           "stylepedal._memory", "stylepedal._threads", "stylepedal.audio_io"}
# the effect's pedalboard-style constructor hands over to the preset loader (a function-level
# import, the one upward call): StyleTransfer.from_preset
_UPWARD = {("stylepedal.effect.engine.effect", "stylepedal.presets.load")}


def _room(module: str) -> str | None:
    for room in sorted(_ROOMS, key=len, reverse=True):
        if module == room or module.startswith(room + "."):
            return room
    return None


def test_imports_point_one_way():
    modules = _modules()
    wrong = []
    for n, p in modules.items():
        room = _room(n)
        if room is None:
            continue
        for m in _imports(n, p, top_level_only=False):
            if not m.startswith("stylepedal") or m in _SHARED or (n, m) in _UPWARD:
                continue
            target = _room(m)
            if m in modules and target not in _ROOMS[room] and not (
                room == "stylepedal.host" and target == "stylepedal.effect.research"
                and n.startswith("stylepedal.host.cli")
            ):
                wrong.append((n, m))
    assert wrong == []


def _run(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_the_engine_leaves_torch_out():
    got = _run(
        "import json, sys\n"
        "import stylepedal.effect.engine\n"
        "from stylepedal import StyleTransfer, Chain\n"
        "print(json.dumps({'torch': 'torch' in sys.modules,\n"
        "                  'names': [StyleTransfer.__name__, Chain.__name__]}))\n"
    )
    assert got == {"torch": False, "names": ["StyleTransfer", "Chain"]}


@pytest.mark.slow
def test_rendering_a_factory_preset_leaves_torch_out(tmp_path):
    got = _run(
        "import json, sys\n"
        "from stylepedal.host.demo import run_demo\n"
        f"s = run_demo('Organ', {str(tmp_path)!r}, seconds=2)\n"
        "print(json.dumps({'torch': 'torch' in sys.modules, 'out': s['output']}))\n"
    )
    assert got["torch"] is False and Path(got["out"]).is_file()


def test_top_level_names_are_lazy_and_listed():
    import stylepedal

    assert {"StyleTransfer", "Chain", "StylepedalError", "ParameterError"} <= set(dir(stylepedal))
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        stylepedal.Nope  # noqa: B018
