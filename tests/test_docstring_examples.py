"""The Examples in the package's docstrings run and show what they say (as librosa's do): an
example that rots fails here, not in a reader's session."""

from __future__ import annotations

import doctest
import importlib
import io
import pkgutil

import pytest

import stylepedal

MODULES = sorted(
    m.name for m in pkgutil.walk_packages(stylepedal.__path__, "stylepedal.")
    if not m.name.endswith("__main__")  # importing it would run the command line
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    out = io.StringIO()
    runner = doctest.DocTestRunner()
    for test in doctest.DocTestFinder().find(module, name):
        runner.run(test, out=out.write)
    assert runner.failures == 0, out.getvalue()


def test_the_examples_are_found() -> None:
    # a finder that found nothing would pass every module above
    from stylepedal.effect.engine import longterm

    names = {t.name for t in doctest.DocTestFinder().find(longterm) if t.examples}
    assert "stylepedal.effect.engine.longterm.match_log_gain" in names
