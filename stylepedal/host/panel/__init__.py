"""The live host's web panel: a page (plain HTML/CSS/JS shipped here) and its JSON API.

See :class:`PanelServer` for the API and :class:`LiveState` for what it reports.
"""

from __future__ import annotations

from .server import MAX_BODY_BYTES, PanelServer
from .state import LiveState

__all__ = ["MAX_BODY_BYTES", "LiveState", "PanelServer"]
