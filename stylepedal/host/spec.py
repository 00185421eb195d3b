"""Parse effect specs such as ``"Compressor(threshold_db=-20),Reverb(room_size=0.3)"``.

A spec names pedalboard's built-in effects with keyword parameters, comma separated. It is read
with :mod:`ast`, never evaluated: only names of pedalboard effect classes are accepted, only
keyword arguments, and only literal values (numbers, strings, booleans, with an optional sign).
Effects whose parameter is an enum (``LadderFilter(mode="HPF12")``,
``Resample(quality="Linear")``) take the member's name as a string.

Examples
--------
>>> plugins = parse_spec("Compressor(threshold_db=-20), Reverb(room_size=0.3)")
>>> [type(p).__name__ for p in plugins]
['Compressor', 'Reverb']
>>> plugins[0].threshold_db
-20.0
"""

from __future__ import annotations

import ast
import difflib
import math
import re
from typing import Any

from ..errors import ParameterError

__all__ = [
    "MAX_IMPULSE_RESPONSE_SECONDS",
    "allowed_effects",
    "effect_parameters",
    "format_spec",
    "parse_spec",
]

# Classes that cannot be built from literal keywords, or that would load foreign code.
_EXCLUDED = frozenset(
    {
        "Plugin",
        "Pedalboard",
        "Chain",
        "Mix",
        "PluginContainer",
        "ExternalPlugin",
        "VST3Plugin",
        "AudioUnitPlugin",
        "IIRFilter",
    }
)
_MAX_SPEC_CHARS = 4096  # a spec is typed by a person: refuse anything that is plainly not one
# pedalboard's Convolution keeps several transformed copies of its impulse response (about
# 8 MB a second of stereo at 48 kHz): the longest room reverbs last well under this.
MAX_IMPULSE_RESPONSE_SECONDS = 30.0
# No knob of a pedalboard effect means anything this large; beyond it float32 overflows.
_MAX_MAGNITUDE = 1e9
# Parameters whose extreme values hang or crash the effect rather than sound odd.
_RANGES: dict[tuple[str, str], tuple[float, float]] = {
    ("Resample", "target_sample_rate"): (100.0, 768_000.0),
}



def split_top_level(text: str, *, brackets: tuple[str, str] = ("([{", ")]}")) -> list[str]:
    """``text`` cut at the commas outside ``brackets`` (openers, closers) and quotes, each
    item stripped: the items of a spec, or the parameters of a type like ``Union[a, b]``.

    Examples
    --------
    >>> split_top_level('Gain(gain_db=-3), plugin:"/p/a, b.vst3"(mix=0.5), Reverb')
    ['Gain(gain_db=-3)', 'plugin:"/p/a, b.vst3"(mix=0.5)', 'Reverb']
    """
    opening, closing = brackets
    items, depth, start, quote = [], 0, 0, ""
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in opening:
            depth += 1
        elif ch in closing:
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    return [item.strip() for item in items if item.strip()]


def _plugin_classes() -> dict[str, type]:
    import pedalboard

    found: dict[str, type] = {}
    for name in dir(pedalboard):
        obj = getattr(pedalboard, name)
        if (
            isinstance(obj, type)
            and issubclass(obj, pedalboard.Plugin)
            and not name.startswith("_")
            and name not in _EXCLUDED
        ):
            found[name] = obj
    return found


def allowed_effects() -> list[str]:
    """Names of the pedalboard effects a spec may use, sorted.

    Examples
    --------
    >>> "Reverb" in allowed_effects() and "VST3Plugin" not in allowed_effects()
    True
    """
    return sorted(_plugin_classes())


def effect_parameters(name: str) -> dict[str, str]:
    """Keyword parameters of effect ``name`` with their type names, read from pedalboard.

    Examples
    --------
    >>> effect_parameters("Gain")
    {'gain_db': 'float'}
    """
    cls = _lookup_class(name)
    # pybind11 classes have no inspectable signature; their docstring's first line is one.
    init: Any = cls.__dict__.get("__init__", None)
    doc = (getattr(init, "__doc__", None) or "").strip().splitlines()
    first = doc[0] if doc else ""
    match = re.match(r"__init__\((.*)\)\s*->", first)
    params: dict[str, str] = {}
    if match:
        for part in split_top_level(match.group(1), brackets=("([<", ")]>")):
            pname, _, rest = part.partition(":")
            ptype = rest.split("=", 1)[0].strip().replace("pedalboard_native.", "")
            if pname.strip() != "self":
                params[pname.strip()] = ptype
    return params


def _enum_types(cls: type) -> dict[str, Any]:
    """Parameter name -> enum type for the effects that take one (named by its members)."""
    import pedalboard

    enums: dict[str, Any] = {}
    for pname, ptype in effect_parameters(cls.__name__).items():
        if ptype == "Resample.Quality":
            enums[pname] = pedalboard.Resample.Quality
        elif ptype == "LadderFilter.Mode":
            enums[pname] = pedalboard.LadderFilter.Mode
    return enums


def _lookup_class(name: str) -> type:
    classes = _plugin_classes()
    if name in classes:
        return classes[name]
    close = difflib.get_close_matches(name, list(classes), n=3, cutoff=0.6)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    raise ParameterError(
        f"effect {name!r} is not a pedalboard effect{hint}: allowed are "
        + ", ".join(sorted(classes))
        + "; a plugin file is loaded by path: plugin:/path/Name.vst3"
    )


def _literal(node: ast.expr, effect: str, param: str) -> Any:
    """The Python value of a literal keyword argument, or ParameterError."""
    sign = 1
    inner = node
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        sign = -1 if isinstance(node.op, ast.USub) else 1
        inner = node.operand
    if isinstance(inner, ast.Constant):
        value = inner.value
        if isinstance(value, bool):
            if inner is node:
                return value
        elif isinstance(value, (int, float)):
            try:
                magnitude = abs(float(value))
            except OverflowError:
                magnitude = math.inf  # an integer of hundreds of digits
            if not math.isfinite(magnitude) or magnitude > _MAX_MAGNITUDE:
                shown = ast.unparse(node) if len(str(value)) <= 40 else f"{str(value)[:20]}..."
                raise ParameterError(
                    f"{effect}({param}={shown}) must be a finite number of magnitude at most "
                    f"{_MAX_MAGNITUDE:g}"
                )
            low, high = _RANGES.get((effect, param), (-_MAX_MAGNITUDE, _MAX_MAGNITUDE))
            if not low <= sign * value <= high:
                raise ParameterError(
                    f"{effect}({param}={sign * value}) is out of range: allowed is "
                    f"[{low:g}, {high:g}]"
                )
            return sign * value
        elif isinstance(value, str) and inner is node:
            return value
    raise ParameterError(
        f"{effect}({param}={ast.unparse(node)}) is not allowed: a value must be a literal "
        "number, string or True/False (no names, expressions or calls)"
    )


def _check_type(effect: str, param: str, value: Any, type_name: str) -> None:
    """Refuse a literal of the wrong kind with a message that names the expected kind."""
    if type_name in ("float", "int", "Optional[float]"):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        wanted = "a number"
    elif type_name == "bool":
        ok, wanted = isinstance(value, bool), "True or False"
    else:
        return  # strings, enums and unions: checked below or by pedalboard
    if not ok:
        raise ParameterError(f"{effect}({param}={value!r}) must be {wanted}")


def _build(name: str, kwargs: dict[str, Any]) -> Any:
    cls = _lookup_class(name)
    params = effect_parameters(name)
    allowed = ", ".join(params) if params else "none"
    for key in kwargs:
        if key not in params:
            raise ParameterError(
                f"{name} has no parameter {key!r}: allowed are {allowed}"
            )
    for key, value in kwargs.items():
        _check_type(name, key, value, params[key])
    enums = _enum_types(cls)
    for key, enum in enums.items():
        if key in kwargs:
            value = kwargs[key]
            members = [m for m in dir(enum) if not m.startswith("_") and m[0].isupper()]
            if not isinstance(value, str) or value not in members:
                raise ParameterError(
                    f"{name}({key}={value!r}) is not supported: choose one of "
                    + ", ".join(repr(m) for m in members)
                )
            kwargs[key] = getattr(enum, value)
    _check_files(name, kwargs)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError, RuntimeError) as exc:
        shown = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        raise ParameterError(
            f"{name}({shown}) was refused by pedalboard: {exc}; parameters are {allowed}"
        ) from exc


def _check_files(name: str, kwargs: dict[str, Any]) -> None:
    """Refuse a file parameter pedalboard would load whole before it does: an impulse
    response is checked by its header (duration, readable audio), not read."""
    path = kwargs.get("impulse_response_filename")
    if name != "Convolution" or not isinstance(path, str):
        return
    from ..audio_io import open_audio
    from ..errors import AudioFileError

    try:
        with open_audio(path, name="impulse response") as f:
            seconds = f.frames / f.samplerate
    except AudioFileError as exc:
        raise ParameterError(f"Convolution(impulse_response_filename={path!r}): {exc}") from exc
    if not seconds <= MAX_IMPULSE_RESPONSE_SECONDS:
        raise ParameterError(
            f"Convolution(impulse_response_filename={path!r}) lasts {seconds:.1f} s: "
            f"allowed are impulse responses of at most {MAX_IMPULSE_RESPONSE_SECONDS:g} s "
            "(trim its silent tail)"
        )


def keyword_values(call: ast.Call, name: str) -> dict[str, Any]:
    """The keyword arguments of ``call`` (an effect ``name``'s settings), each a literal."""
    values: dict[str, Any] = {}
    for kw in call.keywords:
        if kw.arg is None:
            raise ParameterError(f"{name}: **... is not allowed: name each parameter")
        if kw.arg in values:
            raise ParameterError(f"{name}: parameter {kw.arg!r} is given twice")
        values[kw.arg] = _literal(kw.value, name, kw.arg)
    return values


def parse_spec(spec: str) -> list[Any]:
    """Build the pedalboard plugins a spec names, in order.

    Parameters
    ----------
    spec : str
        Comma-separated effects, each ``Name`` or ``Name(param=value, ...)`` with literal
        values, or a plugin file ``plugin:/path/Name.vst3[(param=value, ...)]``
        (:mod:`stylepedal.host.plugins`); an empty or blank string gives no effects.

    Returns
    -------
    list of pedalboard.Plugin

    Raises
    ------
    ParameterError
        naming the effect and parameter at fault and listing what is allowed.

    Examples
    --------
    >>> [type(p).__name__ for p in parse_spec("Gain(gain_db=-6), HighpassFilter")]
    ['Gain', 'HighpassFilter']
    >>> parse_spec("")
    []
    """
    if not isinstance(spec, str):
        raise ParameterError(f"spec={spec!r} must be a string such as 'Reverb(room_size=0.3)'")
    if len(spec) > _MAX_SPEC_CHARS:
        raise ParameterError(
            f"spec is {len(spec)} characters long: allowed are at most {_MAX_SPEC_CHARS}"
        )
    if not spec.strip():
        return []
    if "plugin:" in spec:
        from .plugins import parse_with_plugins

        found = parse_with_plugins(spec, parse_spec)
        if found is not None:
            return found
    try:
        tree = ast.parse(spec.strip(), mode="eval")
    except SyntaxError as exc:
        raise ParameterError(
            f"spec={spec!r} cannot be read ({exc.msg}): write effects like "
            "'Compressor(threshold_db=-20), Reverb(room_size=0.3)'"
        ) from None
    except (RecursionError, MemoryError, ValueError):
        # thousands of nested signs or brackets, or a number too long to convert
        raise ParameterError(
            f"spec {spec[:40]!r}... cannot be read: it nests too deeply or holds a number too "
            "long; write effects like 'Reverb(room_size=0.3)'"
        ) from None
    body = tree.body
    items = list(body.elts) if isinstance(body, ast.Tuple) else [body]
    plugins = []
    for item in items:
        if isinstance(item, ast.Name):
            plugins.append(_build(item.id, {}))
            continue
        if not isinstance(item, ast.Call) or not isinstance(item.func, ast.Name):
            raise ParameterError(
                f"{ast.unparse(item)!r} is not an effect: write Name or Name(param=value), "
                "e.g. 'Reverb(room_size=0.3)'"
            )
        name = item.func.id
        _lookup_class(name)
        if item.args:
            raise ParameterError(
                f"{name}({ast.unparse(item.args[0])}): parameters must be given by keyword, "
                f"allowed are {', '.join(effect_parameters(name)) or 'none'}"
            )
        plugins.append(_build(name, keyword_values(item, name)))
    return plugins


def format_spec(plugins: list[Any]) -> str:
    """A readable spec for ``plugins`` (parameters as pedalboard reports them).

    Examples
    --------
    >>> format_spec(parse_spec("Gain(gain_db=-6)"))
    'Gain(gain_db=-6)'
    """
    parts = []
    for p in plugins:
        name = type(p).__name__
        try:
            names = list(effect_parameters(name))
        except ParameterError:
            names = []
        shown = []
        for key in names:
            value: Any = getattr(p, key, None)
            if isinstance(value, bool) or isinstance(value, str):
                shown.append(f"{key}={value!r}")
            elif isinstance(value, (int, float)):
                # pedalboard stores float32: print the value the user typed, not its noise
                shown.append(f"{key}={float(value):.6g}")
            elif value is not None and hasattr(value, "name"):
                shown.append(f"{key}={value.name!r}")
        parts.append(f"{name}({', '.join(shown)})")
    return ", ".join(parts)
