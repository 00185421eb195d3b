"""The live host's web panel: a page (plain HTML/CSS/JS shipped here) and its JSON API.

:class:`PanelServer` serves the page and the API (in the panel's own process,
:mod:`.child`); :class:`PanelProcess` runs that process from the live one and carries state
and commands; :class:`LiveState` is what the panel reports.
"""

from __future__ import annotations

from .process import PanelProcess
from .server import MAX_BODY_BYTES, PanelServer
from .state import LiveState

__all__ = ["MAX_BODY_BYTES", "LiveState", "PanelProcess", "PanelServer"]
