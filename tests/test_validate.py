"""The shared boundary checks: one rule for integer parameters across the package."""

from __future__ import annotations

import numpy as np
import pytest

from stylepedal._validate import check_non_negative_int, check_positive_int
from stylepedal.errors import ParameterError


@pytest.mark.parametrize("value", [1, 7, np.int64(3), np.int32(1), np.uint8(9)])
def test_positive_int_accepts_python_and_numpy_integers_as_int(value):
    out = check_positive_int(value, "n")
    assert out == int(value) and type(out) is int


@pytest.mark.parametrize("value", [0, -2, np.int64(0), True, False, 2.0, "3", None])
def test_positive_int_refuses_with_the_name_and_value(value):
    with pytest.raises(ParameterError) as info:
        check_positive_int(value, "hop_length")
    assert str(info.value) == f"hop_length={value!r} must be a positive integer"


def test_non_negative_int_allows_zero_only_as_the_extra_value():
    assert type(check_non_negative_int(np.int64(0), "seed")) is int
    for bad in (-1, True, 0.0):
        with pytest.raises(ParameterError, match="seed=.* must be a non-negative integer"):
            check_non_negative_int(bad, "seed")


def test_the_rule_holds_at_the_package_boundaries():
    """Integer arguments of the host and the engine follow the shared rule."""
    from stylepedal.effect import StyleTransfer
    from stylepedal.effect.model.corpus import make_corpus
    from stylepedal.host.chain import Chain

    chain = Chain([StyleTransfer.identity()])
    assert chain.latency_samples(48000, channels=np.int64(2)) == 513
    with pytest.raises(ParameterError, match="channels=True must be a positive integer"):
        chain.start(48000, True)
    x = np.zeros(1000, np.float32)
    np.testing.assert_array_equal(
        StyleTransfer.identity().process(x, 48000, buffer_size=np.int64(300)),
        StyleTransfer.identity().process(x, 48000),
    )
    with pytest.raises(ParameterError, match="n_clips=0 must be a positive integer"):
        make_corpus(0, 1.0, 22050)
