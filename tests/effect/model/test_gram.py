"""Gram features and losses (stylepedal.effect.model.gram) against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stylepedal.effect.model.gram import (
    FeatureConfig,
    GramFeatures,
    content_loss,
    gram,
    style_loss,
    total_loss,
)
from stylepedal.errors import ParameterError

# F: 2 filters x 3 frames
F = torch.tensor([[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]])
# F F^T by hand: [[1+4+9, 4+10+18], [4+10+18, 16+25+36]] = [[14, 32], [32, 77]]; / 3 frames
G_HAND = torch.tensor([[[14.0, 32.0], [32.0, 77.0]]]) / 3.0


def test_gram_of_2x3_by_hand():
    assert torch.allclose(gram(F), G_HAND)


def test_gram_is_symmetric_and_normalised_by_frames():
    g1 = gram(F)
    # repeating the frames doubles F F^T and the frame count: the Gram is unchanged
    g2 = gram(torch.cat([F, F], dim=2))
    assert torch.allclose(g1, g1.transpose(1, 2))
    assert torch.allclose(g1, g2)


def test_style_loss_by_hand():
    target = torch.tensor([[[4.0, 10.0], [10.0, 25.0]]])
    # G - target = [[14/3-4, 32/3-10], [32/3-10, 77/3-25]] = [[2/3, 2/3], [2/3, 2/3]]
    expected = 4 * (2.0 / 3.0) ** 2
    loss = style_loss([F], [target])
    assert loss.shape == (1,)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_style_loss_sums_layers():
    zero = torch.zeros(1, 2, 2)
    one = style_loss([F], [zero]).item()
    # sum of squares of G_HAND: (14^2 + 2*32^2 + 77^2) / 9
    assert one == pytest.approx((196 + 2 * 1024 + 5929) / 9.0, rel=1e-6)
    assert style_loss([F, F], [zero, zero]).item() == pytest.approx(2 * one, rel=1e-6)


def test_content_loss_by_hand_uses_last_layer():
    target = torch.tensor([[[1.0, 2.0, 4.0], [4.0, 3.0, 6.0]]])
    # differences: 0, 0, -1, 0, 2, 0 -> 1 + 4
    assert content_loss([F], [target]).item() == pytest.approx(5.0)
    # only the last layer counts
    assert content_loss([torch.zeros_like(F), F], [F, target]).item() == pytest.approx(5.0)


def test_total_loss_weights_content_by_alpha():
    zero = torch.zeros(1, 2, 2)
    target = F + 1.0  # content loss = 6 elements x 1
    s = style_loss([F], [zero]).item()
    assert total_loss([F], [zero], [target], alpha=0.5).item() == pytest.approx(s + 3.0)
    assert total_loss([F], [zero], None, alpha=0.0).item() == pytest.approx(s)
    with pytest.raises(ParameterError, match="alpha=0"):
        total_loss([F], [zero], None, alpha=1e-2)
    with pytest.raises(ParameterError, match="alpha"):
        total_loss([F], [zero], [target], alpha=-1.0)


def test_features_are_relu_of_the_random_conv(rng):
    cfg = FeatureConfig(n_filters=5, kernel_size=3, seed=7)
    feats = GramFeatures(4, cfg)
    x = rng.standard_normal((1, 4, 9)).astype(np.float32)
    out = feats(torch.from_numpy(x))
    assert len(out) == 1 and out[0].shape == (1, 5, 7)
    w = feats.convs[0].weight.detach().numpy()  # (filters, bins, width)
    # valid cross-correlation over time, by hand
    by_hand = np.zeros((5, 7))
    for t in range(7):
        by_hand[:, t] = np.einsum("fbk,bk->f", w, x[0, :, t : t + 3])
    np.testing.assert_allclose(out[0][0].numpy(), np.maximum(by_hand, 0.0), rtol=1e-5, atol=1e-5)
    assert (out[0] >= 0).all()


def test_weights_depend_only_on_config():
    a = GramFeatures(6, FeatureConfig(n_filters=4, kernel_size=3, seed=1))
    b = GramFeatures(6, FeatureConfig(n_filters=4, kernel_size=3, seed=1))
    c = GramFeatures(6, FeatureConfig(n_filters=4, kernel_size=3, seed=2))
    assert torch.equal(a.convs[0].weight, b.convs[0].weight)
    assert not torch.equal(a.convs[0].weight, c.convs[0].weight)
    assert not a.convs[0].weight.requires_grad


def test_layers_shrink_frames_by_kernel():
    feats = GramFeatures(3, FeatureConfig(n_filters=4, kernel_size=3, layers=2))
    out = feats(torch.rand(2, 3, 10))
    assert [o.shape for o in out] == [(2, 4, 8), (2, 4, 6)]


def test_too_short_or_wrong_shape_input_is_rejected():
    feats = GramFeatures(3, FeatureConfig(n_filters=4, kernel_size=5))
    with pytest.raises(ParameterError, match="too short"):
        feats(torch.rand(1, 3, 4))
    with pytest.raises(ParameterError, match="shape"):
        feats(torch.rand(1, 2, 10))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_filters": 0},
        {"kernel_size": -1},
        {"layers": 0},
        {"seed": -1},
        {"n_filters": True},
        {"kernel_size": 2.5},
        {"orientation": "diagonal"},
    ],
)
def test_bad_feature_config(kwargs):
    with pytest.raises(ParameterError):
        FeatureConfig(**kwargs)


def test_bad_n_bins():
    with pytest.raises(ParameterError, match="n_bins"):
        GramFeatures(0, FeatureConfig(n_filters=2))


def test_config_dict_round_trip():
    cfg = FeatureConfig(n_filters=8, kernel_size=3, layers=2, seed=5, orientation="2d")
    assert FeatureConfig(**cfg.to_dict()) == cfg
    assert "orientation" not in FeatureConfig().to_dict()


def test_time_orientation_needs_equal_frame_counts():
    feats = GramFeatures(12, FeatureConfig(n_filters=4, kernel_size=3, orientation="time"))
    out = feats(torch.rand(1, 12, 6))
    # frames are channels, the conv slides over the 12 bins
    assert out[0].shape == (1, 4, 10)
    with pytest.raises(ParameterError, match="same number"):
        feats(torch.rand(1, 12, 7))


def test_2d_orientation_flattens_positions():
    feats = GramFeatures(6, FeatureConfig(n_filters=3, kernel_size=3, orientation="2d"))
    out = feats(torch.rand(1, 6, 5))
    assert out[0].shape == (1, 3, 4 * 3)
    assert gram(out[0]).shape == (1, 3, 3)
