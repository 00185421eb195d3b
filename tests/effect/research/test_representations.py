"""CQT, mel and SMS representations; the Gram features' orientations; the optimiser with each."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stylepedal.effect.model.gram import FeatureConfig, GramFeatures, gram, style_loss
from stylepedal.effect.research.cqt import CqtRepresentation
from stylepedal.effect.research.mel import MelRepresentation
from stylepedal.effect.research.optimize import optimize_logmag
from stylepedal.effect.research.reconstruction import snr_db, spectral_convergence_db
from stylepedal.effect.research.represent import Representation, get_representation
from stylepedal.effect.research.sms import SmsRepresentation
from stylepedal.errors import ParameterError
from tests.signals import pluck
from tests.tolerances import (
    CQT_ROUNDTRIP_MAX_SC_DB,
    MEL_ROUNDTRIP_MAX_SC_DB,
    REP_SINE_CALIBRATION_DB,
    SMS_ROUNDTRIP_MAX_SC_DB,
)

SR = 22050


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


# -- registry and shapes ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, cls",
    [("cqt", CqtRepresentation), ("mel", MelRepresentation), ("sms", SmsRepresentation)],
)
def test_registry_builds_these_classes(name, cls):
    rep = get_representation(name, seed=3)
    assert isinstance(rep, cls)
    assert isinstance(rep, Representation)
    assert rep.name == name
    assert rep.seed == 3


def test_unknown_representation_is_a_clear_error():
    with pytest.raises(ParameterError, match=r"representation='wavelet'.*'cqt'.*'mel'.*'sms'"):
        get_representation("wavelet")


@pytest.mark.parametrize(
    "rep, channels, hop",
    [
        (CqtRepresentation(), 176, 128),
        (CqtRepresentation(bins_per_octave=12, hop_length=256, n_bins=84), 84, 256),
        (MelRepresentation(), 128, 512),
        (MelRepresentation(n_mels=40, n_fft=1024), 40, 256),
        (SmsRepresentation(), 1025, 512),
        (SmsRepresentation(view="tracks", max_sinusoids=16), 32, 512),
    ],
    ids=repr,
)
def test_analyze_shape_dtype_and_range(rep, channels, hop):
    y = pluck(SR, 1.0)
    x = rep.analyze(y, SR)
    assert x.dtype == np.float32
    assert x.shape == (channels, 1 + len(y) // hop)
    assert np.isfinite(x).all() and (x >= 0).all()
    assert x.max() > 1.0  # a full-scale pluck is far above the floor on the seeds' scale


@pytest.mark.parametrize("freq_hz", [110.0, 440.0, 1760.0])
def test_a_sinusoid_reads_log1p_512_a_in_the_cqt(freq_hz):
    """The per-bin gains put a sinusoid of amplitude a at log1p(512 a): the seeds' STFT range."""
    rep = CqtRepresentation(bins_per_octave=12)
    freqs = rep.frequencies_hz(SR)
    k = int(np.argmin(np.abs(freqs - freq_hz)))
    t = np.arange(SR * 2) / SR
    y = (0.25 * np.cos(2 * np.pi * freqs[k] * t)).astype(np.float32)
    x = rep.analyze(y, SR)
    assert int(np.argmax(x[:, x.shape[1] // 2])) == k
    peak = float(np.expm1(x[k, 20:-20]).mean())
    assert abs(20 * np.log10(peak / (512 * 0.25))) < REP_SINE_CALIBRATION_DB


def test_mel_bands_are_band_means_so_white_noise_is_flat(rng):
    """norm=1 bands average their bins: white noise reads the same in narrow and wide bands
    (with librosa's default Slaney area norm or no norm it would tilt by tens of dB)."""
    y = (0.1 * rng.standard_normal(SR * 4)).astype(np.float32)
    rep = MelRepresentation(n_mels=64, fmin_hz=200.0)
    level_db = 20 * np.log10(np.expm1(rep.analyze(y, SR).astype(np.float64)).mean(axis=1))
    assert level_db.max() - level_db.min() < 2 * REP_SINE_CALIBRATION_DB + 1.0


# -- round trips ------------------------------------------------------------------------------


def _round_trip_sc(rep, y, **kw):
    x = rep.analyze(y, SR)
    z = rep.synthesize(x, SR, reference=y, **kw)
    assert z.shape == y.shape and z.dtype == np.float32 and np.isfinite(z).all()
    x2 = rep.analyze(z, SR)
    return spectral_convergence_db(np.expm1(x.astype(np.float64)), np.expm1(x2.astype(np.float64)))


def test_cqt_round_trip():
    y = pluck(SR, 2.0, 110.0)
    assert _round_trip_sc(CqtRepresentation(), y, n_iter=32) < CQT_ROUNDTRIP_MAX_SC_DB


def test_cqt_with_the_seeds_hop_loses_the_top_octaves():
    """Why the default hop is short: librosa's icqt cannot rebuild bins with shorter filters."""
    y = pluck(SR, 2.0, 110.0)
    long_hop = CqtRepresentation(hop_length=512, bins_per_octave=12)
    short_hop = CqtRepresentation(bins_per_octave=12)
    assert short_hop.hop_length_for(SR) < 512
    assert _round_trip_sc(long_hop, y, n_iter=16) > _round_trip_sc(short_hop, y, n_iter=16) + 6


def test_cqt_phase_kept_round_trip_is_better_than_chance():
    y = pluck(SR, 2.0, 110.0)
    rep = CqtRepresentation()
    z = rep.synthesize_with_phase(rep.analyze(y, SR), SR, reference=y)
    # librosa's icqt is approximate (~5-7 dB on a pluck), but far from a random signal (<0 dB)
    assert snr_db(y, z) > 3.0


def test_mel_round_trip():
    y = pluck(SR, 2.0, 110.0)
    assert _round_trip_sc(MelRepresentation(), y, n_iter=32) < MEL_ROUNDTRIP_MAX_SC_DB


def test_sms_spectrum_view_round_trip():
    y = pluck(SR, 2.0, 110.0)
    rep = SmsRepresentation(residual="drop")
    assert _round_trip_sc(rep, y) < SMS_ROUNDTRIP_MAX_SC_DB


@pytest.mark.parametrize("cls", [CqtRepresentation, MelRepresentation, SmsRepresentation])
def test_synthesis_is_deterministic_for_a_seed(cls):
    y = pluck(SR, 1.0, 220.0)
    rep = cls(seed=7)
    x = rep.analyze(y, SR)
    a = rep.synthesize(x, SR, n_iter=4, reference=y)
    b = cls(seed=7).synthesize(x, SR, n_iter=4, reference=y)
    np.testing.assert_array_equal(a, b)


# -- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: CqtRepresentation(bins_per_octave=0), "bins_per_octave=0"),
        (lambda: CqtRepresentation(fmin_hz=-5.0), "fmin_hz=-5.0"),
        (lambda: CqtRepresentation(hop_length=0), "hop_length=0"),
        (lambda: CqtRepresentation(seed=-1), "seed=-1"),
        (lambda: MelRepresentation(n_mels=0), "n_mels=0"),
        (lambda: MelRepresentation(fmin_hz=500.0, fmax_hz=100.0), "fmax_hz=100.0"),
        (lambda: SmsRepresentation(max_sinusoids=0), "max_sinusoids=0"),
        (lambda: SmsRepresentation(max_sinusoids=-4), "max_sinusoids=-4"),
        (lambda: SmsRepresentation(max_sinusoids=2.5), "max_sinusoids=2.5"),
        (lambda: SmsRepresentation(view="image"), "view='image'"),
        (lambda: SmsRepresentation(residual="keep"), "residual='keep'"),
        (lambda: SmsRepresentation(threshold_db=3.0), "threshold_db=3.0"),
        (lambda: get_representation("sms", max_sinusoids=0), "max_sinusoids=0"),
    ],
)
def test_bad_settings_are_parameter_errors(make, match):
    with pytest.raises(ParameterError, match=match):
        make()


def test_bad_audio_rate_and_arrays_are_parameter_errors():
    y = pluck(SR, 0.5)
    cqt = CqtRepresentation(n_bins=200, bins_per_octave=12)
    with pytest.raises(ParameterError, match=r"n_bins=200 reaches above the Nyquist"):
        cqt.analyze(y, SR)
    with pytest.raises(ParameterError, match="fmin_hz=8000.0 is too high"):
        CqtRepresentation(fmin_hz=8000.0).analyze(y, SR)
    with pytest.raises(ParameterError, match="fmax_hz=20000.0 is above the Nyquist"):
        MelRepresentation(fmax_hz=20000.0).analyze(y, SR)
    for rep in (CqtRepresentation(), MelRepresentation(), SmsRepresentation()):
        with pytest.raises(ParameterError, match="ndim=2"):
            rep.analyze(np.zeros((2, 100), np.float32), SR)
        with pytest.raises(ParameterError, match="dtype=int16"):
            rep.analyze(np.zeros(100, np.int16), SR)
        with pytest.raises(ParameterError, match="sample_rate=0"):
            rep.analyze(y, 0)
        with pytest.raises(ParameterError, match="channels"):
            rep.synthesize(np.zeros((3, 10), np.float32), SR)
        with pytest.raises(ParameterError, match="n_iter=-1"):
            rep.synthesize(rep.analyze(y, SR), SR, n_iter=-1)


# -- Gram feature orientations ----------------------------------------------------------------


def _padded_spec(rng, bins=24, frames=20, margin=4):
    """Random log-magnitudes with zero margins on both axes, so shifts stay inside."""
    x = np.zeros((bins, frames), np.float32)
    x[margin:-margin, margin:-margin] = rng.gamma(
        1.5, 1.0, (bins - 2 * margin, frames - 2 * margin)
    )
    return x


def _grams(feats, x):
    with torch.no_grad():
        return [gram(f) for f in feats(torch.from_numpy(np.ascontiguousarray(x))[None])]


def test_default_orientation_is_the_unchanged_freq_path(rng):
    cfg = FeatureConfig(n_filters=8, kernel_size=3)
    assert cfg.orientation == "freq"
    x = torch.from_numpy(_padded_spec(rng))[None]
    feats = GramFeatures(24, cfg)
    # bins are the conv's input channels, the conv slides over frames
    w = feats.convs[0].weight
    assert w.shape == (8, 24, 3)
    expected = torch.relu(torch.nn.functional.conv1d(x, w))
    torch.testing.assert_close(feats(x)[0], expected)


def test_time_orientation_is_the_freq_path_on_the_transposed_spectrogram(rng):
    """'time' = frames as channels, conv over frequency: the same seeded weights as 'freq'
    built for that many channels, applied to the transpose."""
    x = _padded_spec(rng)
    time_feats = GramFeatures(24, FeatureConfig(n_filters=8, kernel_size=3, orientation="time"))
    freq_feats = GramFeatures(20, FeatureConfig(n_filters=8, kernel_size=3))
    with torch.no_grad():
        a = time_feats(torch.from_numpy(x)[None])[0]
        b = freq_feats(torch.from_numpy(np.ascontiguousarray(x.T))[None])[0]
    assert a.shape == (1, 8, 24 - 2)
    torch.testing.assert_close(a, b)


def test_time_orientation_with_explicit_frames():
    feats = GramFeatures(
        10, FeatureConfig(n_filters=4, kernel_size=3, orientation="time"), n_frames=7
    )
    assert feats.convs[0].weight.shape == (4, 7, 3)
    with pytest.raises(ParameterError, match=r"frames=8 differs from n_frames=7.*trim"):
        feats(torch.rand(1, 10, 8))


def test_2d_orientation_is_a_conv2d_over_freq_and_time(rng):
    x = torch.from_numpy(_padded_spec(rng))[None]
    feats = GramFeatures(24, FeatureConfig(n_filters=5, kernel_size=3, orientation="2d"))
    w = feats.convs[0].weight
    assert w.shape == (5, 1, 3, 3)
    expected = torch.relu(torch.nn.functional.conv2d(x[:, None], w)).flatten(2)
    torch.testing.assert_close(feats(x)[0], expected)


@pytest.mark.parametrize(
    "orientation, axis, invariant",
    [
        ("freq", 1, True),  # shift in time: the time-Gram of a time-conv does not change
        ("freq", 0, False),  # shift in frequency: different bins -> different Gram
        ("time", 0, True),  # shift in frequency: the conv slides over frequency
        ("time", 1, False),
        ("2d", 0, True),  # a 2-D conv slides over both
        ("2d", 1, True),
    ],
)
def test_each_orientation_is_shift_invariant_along_its_conv_axis(rng, orientation, axis, invariant):
    x = _padded_spec(rng)
    shifted = np.roll(x, 2, axis=axis)  # only zeros wrap around
    feats = GramFeatures(24, FeatureConfig(n_filters=16, kernel_size=3, orientation=orientation))
    g1, g2 = _grams(feats, x)[0], _grams(feats, shifted)[0]
    if invariant:
        torch.testing.assert_close(g1, g2, rtol=1e-4, atol=1e-5)
    else:
        assert float((g1 - g2).abs().max()) > 1e-2 * float(g1.abs().max())


@pytest.mark.parametrize("orientation", ["freq", "time", "2d"])
def test_losses_work_in_every_orientation(rng, orientation):
    cfg = FeatureConfig(n_filters=6, kernel_size=3, layers=2, orientation=orientation)
    feats = GramFeatures(24, cfg)
    x = torch.from_numpy(_padded_spec(rng))[None]
    s = torch.from_numpy(_padded_spec(rng))[None]
    with torch.no_grad():
        loss_self = style_loss(feats(x), [gram(f) for f in feats(x)])
        loss_other = style_loss(feats(x), [gram(f) for f in feats(s)])
    assert float(loss_self) == 0.0 and float(loss_other) > 0.0


def test_orientation_errors():
    with pytest.raises(ParameterError, match="orientation='diagonal'"):
        FeatureConfig(orientation="diagonal")
    feats = GramFeatures(4, FeatureConfig(n_filters=2, kernel_size=5, orientation="2d"))
    with pytest.raises(ParameterError, match="n_bins=4 is too few"):
        feats(torch.rand(1, 4, 10))
    with pytest.raises(ParameterError, match="frames=3 is too short"):
        GramFeatures(8, FeatureConfig(n_filters=2, kernel_size=5, orientation="2d"))(
            torch.rand(1, 8, 3)
        )


# -- the optimiser end to end with each representation (5 s clips) ----------------------------


@pytest.fixture(scope="module")
def clips():
    content = pluck(SR, 5.0, 110.0, seed=1)
    style = pluck(SR, 5.0, 293.7, seed=2) + 0.5 * pluck(SR, 5.0, 440.0, seed=3)
    return content, style.astype(np.float32)


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("cqt", {}),
        ("mel", {}),
        ("sms", {}),
        ("sms", {"view": "tracks", "residual": "stochastic"}),
    ],
)
@pytest.mark.parametrize("orientation", ["freq", "time", "2d"])
def test_optimiser_end_to_end(clips, name, kwargs, orientation):
    content, style = clips
    rep = get_representation(name, seed=0, **kwargs)
    c, s = rep.analyze(content, SR), rep.analyze(style, SR)
    n_filters = 4 if orientation == "2d" else 32
    cfg = FeatureConfig(n_filters=n_filters, kernel_size=3, orientation=orientation)
    result = optimize_logmag(c, s, features=cfg, iterations=3, seed=0)
    assert result.logmag.shape == c.shape
    assert result.losses[-1] < result.initial_loss
    y = rep.synthesize(result.logmag, SR, n_iter=2, reference=content)
    assert y.shape == content.shape and y.dtype == np.float32
    assert np.isfinite(y).all() and np.abs(y).max() > 1e-4


@pytest.mark.parametrize("name", ["cqt", "mel", "sms"])
def test_texture_synthesis_from_noise(clips, name):
    """alpha=0 from noise with no content (``stylepedal texture``) works with each one."""
    _, style = clips
    rep = get_representation(name, seed=0)
    s = rep.analyze(style, SR)
    silence = np.zeros(SR * 2, np.float32)
    n_frames = rep.analyze(silence, SR).shape[1]
    cfg = FeatureConfig(n_filters=32, kernel_size=3)
    result = optimize_logmag(
        None, s, features=cfg, alpha=0.0, init="noise", n_frames=n_frames, iterations=5, seed=0
    )
    assert result.losses[-1] < 0.5 * result.initial_loss
    y = rep.synthesize(result.logmag, SR, n_iter=2, reference=silence)
    assert y.shape == silence.shape and np.isfinite(y).all() and np.abs(y).max() > 1e-4


@pytest.mark.parametrize("mode", ["default", "low"])
def test_engine_representation_round_trip_keeps_length_and_spectrum(mode):
    # "low" mode analyses at the model's frame rate (every second STFT hop): its resynthesis
    # must run at that rate too, or the output would be half as long
    from stylepedal.effect.research.represent import EngineRepresentation

    y = pluck(SR, seconds=1.0)
    rep = EngineRepresentation(latency_mode=mode)
    frames = rep.analyze(y, SR)
    assert frames.shape == (1030, len(y) // 118)
    out = rep.synthesize(frames, SR, n_iter=16, reference=y)
    assert out.shape == y.shape
    again = rep.analyze(out, SR)
    err = np.linalg.norm(again - frames) / np.linalg.norm(frames)
    assert err < 0.3, err
