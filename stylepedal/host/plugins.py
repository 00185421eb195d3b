"""Plugins the player owns (VST3, and Audio Units on macOS) in an effect spec, by path.

An item of a spec (:func:`~stylepedal.host.spec.parse_spec`) that starts with ``plugin:`` loads a
plugin file through :func:`pedalboard.load_plugin`::

    plugin:/path/Amp.vst3
    plugin:/path/Amp.vst3(drive=6.5, bright=True, preset="/path/crunch.vstpreset")
    plugin:"/path/My Amp (x64).vst3"(plugin_name="Amp Mono")

The path runs to the parameter list (or the end of the item); quote it when it holds a comma or
ends in a parenthesis. Inside the parentheses the spec's own grammar holds: keyword arguments with
literal values (numbers, quoted strings, True/False). Two keywords are the host's: ``preset``, a
``.vstpreset`` file loaded before the parameters are set, and ``plugin_name``, which plugin of a
file that holds several. Every other keyword is one of the plugin's parameters, by the Python name
pedalboard gives it (``plugin.parameters``).

A pedalboard plugin withholds its first output samples by the latency the plugin reports; the
chain measures that (:mod:`stylepedal.host._stages`) and adds any reported latency that still
shows in the output (:func:`reported_latency`), so a one-shot chain comes out aligned and a
stream reports its delay.
"""

from __future__ import annotations

import ast
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ParameterError

__all__ = [
    "PREFIX",
    "PluginSpec",
    "configure",
    "is_plugin_like",
    "load",
    "parse_plugin",
    "parse_with_plugins",
    "plugin_suffixes",
    "reported_latency",
]

PREFIX = "plugin:"
_HOST_KEYS = ("preset", "plugin_name")
_PRESET_SUFFIXES = (".vstpreset",)
# A reported latency past this (about 10 s at 384 kHz) is a broken plugin, not a lookahead.
MAX_REPORTED_LATENCY = 1 << 22
_USAGE = (
    "write plugin:/path/Name.vst3 or plugin:/path/Name.vst3(param=value, "
    "preset=\"/path/x.vstpreset\")"
)


@dataclass(frozen=True)
class PluginSpec:
    """One ``plugin:`` item of a spec, parsed (nothing loaded yet)."""

    path: str
    parameters: dict[str, Any] = field(default_factory=dict)
    preset: str | None = None
    plugin_name: str | None = None


def plugin_suffixes() -> tuple[str, ...]:
    """The plugin file suffixes pedalboard loads on this platform.

    Examples
    --------
    >>> ".vst3" in plugin_suffixes()
    True
    """
    return (".vst3", ".component") if sys.platform == "darwin" else (".vst3",)


def _split_path(body: str) -> tuple[str, str]:
    """``body`` (after ``plugin:``) as the path and the parameter list (``""`` if none)."""
    body = body.strip()
    if body[:1] in ("'", '"'):
        end = body.find(body[0], 1)
        if end < 0:
            raise ParameterError(f"{PREFIX}{body}: the path's quote is not closed; {_USAGE}")
        path, rest = body[1:end], body[end + 1 :].strip()
        if rest and not (rest.startswith("(") and rest.endswith(")")):
            raise ParameterError(
                f"{PREFIX}{body}: after the quoted path only a parameter list may follow; {_USAGE}"
            )
        return path, rest
    if body.count("(") != body.count(")"):
        raise ParameterError(
            f"{PREFIX}{body}: unbalanced parentheses (quote a path that holds them); {_USAGE}"
        )
    if not body.endswith(")"):
        return body, ""
    depth = 0
    for i in range(len(body) - 1, -1, -1):  # the group that closes the item is the list
        if body[i] == ")":
            depth += 1
        elif body[i] == "(":
            depth -= 1
            if depth == 0:
                return body[:i].strip(), body[i:]
    raise ParameterError(f"{PREFIX}{body}: unbalanced parentheses; {_USAGE}")


def parse_plugin(item: str) -> PluginSpec:
    """Parse one ``plugin:PATH[(key=value, ...)]`` item (nothing is loaded or checked on disk).

    Raises
    ------
    ParameterError
        naming the item and what is allowed, for a missing path, a positional argument, a
        value that is not a literal, a key given twice, or a ``preset``/``plugin_name`` that
        is not a string.

    Examples
    --------
    >>> parse_plugin('plugin:/p/Amp.vst3(gain_db=-3, preset="/p/x.vstpreset")')
    PluginSpec(path='/p/Amp.vst3', parameters={'gain_db': -3}, preset='/p/x.vstpreset', \
plugin_name=None)
    """
    from .spec import keyword_values  # the spec grammar's one reading of settings

    if not item.startswith(PREFIX):
        raise ParameterError(f"{item!r} is not a plugin item: {_USAGE}")
    path, params = _split_path(item[len(PREFIX) :])
    if not path:
        raise ParameterError(f"{item!r} names no plugin file: {_USAGE}")
    name = f"{PREFIX}{path}"
    values: dict[str, Any] = {}
    if params:
        try:
            call = ast.parse(f"f{params}", mode="eval").body
        except SyntaxError as exc:
            raise ParameterError(
                f"{item!r}: the parameters cannot be read ({exc.msg}): write them as "
                "key=value with literal values, strings quoted (quote the path if it holds a "
                f"comma or ends in a parenthesis); {_USAGE}"
            ) from None
        if not isinstance(call, ast.Call) or call.args:
            raise ParameterError(f"{item!r}: parameters must be given by keyword; {_USAGE}")
        values = keyword_values(call, name)
    host = {key: values.pop(key) for key in _HOST_KEYS if key in values}
    for key, value in host.items():
        if not isinstance(value, str) or not value:
            raise ParameterError(f"{name}({key}={value!r}) must be a quoted, non-empty string")
    return PluginSpec(path, values, host.get("preset"), host.get("plugin_name"))


def load(spec: PluginSpec) -> Any:
    """The plugin ``spec`` names, loaded with :func:`pedalboard.load_plugin` and configured.

    Raises
    ------
    ParameterError
        naming the path and what is allowed: a missing file, a suffix pedalboard does not
        load here, a plugin that fails to load, an instrument, or a bad preset or parameter.
    """
    path = spec.path
    allowed = ", ".join(plugin_suffixes())
    if not os.path.exists(path):
        raise ParameterError(
            f"plugin file {path!r} does not exist: give the path of an installed plugin ({allowed})"
        )
    if Path(path).suffix.lower() not in plugin_suffixes():
        raise ParameterError(
            f"plugin file {path!r} is not a supported plugin: allowed are {allowed} "
            "(pedalboard loads VST3 on every platform and Audio Units on macOS)"
        )
    import pedalboard

    try:
        plugin = pedalboard.load_plugin(path, plugin_name=spec.plugin_name)
    except (ImportError, RuntimeError, ValueError, OSError) as exc:
        reason = " ".join(str(exc).split())  # pedalboard's report spans lines: one line
        raise ParameterError(f"plugin file {path!r} could not be loaded: {reason}") from exc
    return configure(plugin, spec)


def configure(plugin: Any, spec: PluginSpec) -> Any:
    """Check that ``plugin`` is an effect, load ``spec.preset`` into it, then set
    ``spec.parameters`` (so they win over the preset); return it.

    ``plugin`` is what :func:`pedalboard.load_plugin` returns: ``is_instrument``,
    ``parameters`` (name -> parameter), ``load_preset(path)`` and the parameters as attributes.
    """
    path = spec.path
    if getattr(plugin, "is_instrument", False) and not getattr(plugin, "is_effect", True):
        raise ParameterError(
            f"plugin {path!r} is an instrument: allowed are effect plugins (audio in, audio out)"
        )
    if spec.preset is not None:
        preset = spec.preset
        if Path(preset).suffix.lower() not in _PRESET_SUFFIXES:
            raise ParameterError(
                f"preset={preset!r} of plugin {path!r}: allowed are "
                + ", ".join(_PRESET_SUFFIXES) + " files"
            )
        if not os.path.isfile(preset):
            raise ParameterError(f"preset={preset!r} of plugin {path!r} does not exist")
        try:
            plugin.load_preset(preset)
        except (RuntimeError, ValueError, OSError, AttributeError) as exc:
            raise ParameterError(
                f"preset={preset!r} could not be loaded into plugin {path!r}: {exc}"
            ) from exc
    names = list(getattr(plugin, "parameters", {}) or {})
    for key, value in spec.parameters.items():
        if key not in names:
            shown = ", ".join(names[:40]) + (", ..." if len(names) > 40 else "")
            raise ParameterError(
                f"plugin {path!r} has no parameter {key!r}: allowed are "
                f"{shown or 'none'}, and preset, plugin_name"
            )
        try:
            setattr(plugin, key, value)
        except (TypeError, ValueError, RuntimeError, AttributeError) as exc:
            raise ParameterError(
                f"plugin {path!r} refused {key}={value!r}: {exc}"
            ) from exc
    return plugin


def is_plugin_like(item: Any) -> bool:
    """Whether ``item`` is a plugin object as :func:`pedalboard.load_plugin` returns one
    (``process(audio, sample_rate, reset=...)``, ``reset()``, ``reported_latency_samples``)
    without being a pedalboard class: the chain runs it as a pedalboard plugin."""
    return (
        hasattr(item, "reported_latency_samples")
        and callable(getattr(item, "process", None))
        and callable(getattr(item, "reset", None))
    )


def reported_latency(plugin: Any) -> int:
    """The latency ``plugin`` reports (``reported_latency_samples``), 0 if it reports none.

    Read it after the plugin has run at the stream's rate: plugins set it when prepared.

    Raises
    ------
    ParameterError
        If the report is not a whole number of samples in [0, 2**22].
    """
    value = getattr(plugin, "reported_latency_samples", 0)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) \
            or not 0 <= value <= MAX_REPORTED_LATENCY:
        raise ParameterError(
            f"plugin {plugin!r} reports reported_latency_samples={value!r}: allowed are whole "
            f"numbers of samples in [0, {MAX_REPORTED_LATENCY}]"
        )
    return int(value)


def parse_with_plugins(spec: str, parse_builtin: Any) -> list[Any] | None:
    """The plugins of ``spec`` in order if an item of it is a ``plugin:`` item, else None.

    ``plugin:`` items are loaded with :func:`load`; each other item goes to ``parse_builtin``
    (:func:`~stylepedal.host.spec.parse_spec`, which it returns a list from).
    """
    from .spec import split_top_level

    items = split_top_level(spec)
    if not any(item.startswith(PREFIX) for item in items):
        return None
    plugins: list[Any] = []
    for item in items:
        if item.startswith(PREFIX):
            plugins.append(load(parse_plugin(item)))
        else:
            plugins.extend(parse_builtin(item))
    return plugins
