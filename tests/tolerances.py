"""Every numeric tolerance the tests use, named in one place. Never loosen one to pass a test."""

# Identity transform through the STFT engine: output == input delayed (float32 round trip).
IDENTITY_ATOL = 1e-5
# Streaming == one-shot for the same input cut differently (batched vs single-frame FFT/matmul).
STREAM_ATOL = 1e-5
# Streaming network output vs offline network output, on log-magnitude frames.
NETWORK_STREAM_ATOL = 1e-4
# A network's linear path (linear magnitudes in and out) vs expm1 of its log path: the same
# float32 operations but a log1p/expm1 round trip fewer on each side, a few ulps apart.
LINEAR_PATH_RTOL = 1e-5
# Largest sample-to-sample jump allowed when parameters change every block (no clicks).
CLICK_MAX_STEP = 0.25
# Smallest normal float32; anything non-zero below this in the output is a subnormal.
FLOAT32_TINY = 1.1754944e-38
# Parameters changed between every block: the output's largest sample-to-sample step may be at
# most this many times the input's largest step (times the largest gain in play); 10 ms glides
# keep it near 1, an unsmoothed jump of the mix or the gain would exceed it.
CLICK_STEP_RATIO = 1.5
# Spectral centroid of a pure 1 kHz tone vs 1 kHz (relative): the Hann window's sidelobes spread
# over far more bins above the tone than below it (0..11 kHz band), pulling the centroid up by
# about 1.6%; a wrong-unit or wrong-frequency-axis centroid is off by far more.
SINE_CENTROID_RTOL = 0.02
# SMS analysis of a sum of known stationary sinusoids (issue 6's Done-when): frequency error in
# Hz and amplitude error in dB of every recovered partial, away from the clip's edges.
SMS_FREQ_TOL_HZ = 1.0
SMS_MAG_TOL_DB = 1.0
# SMS resynthesis with the measured phases of a stationary sum of sinusoids, interior samples:
# the sines alone must match the input to this SNR (measured ~80 dB; a phase or frequency
# interpolation error drops it below 20 dB).
SMS_STATIONARY_SNR_DB = 40.0
# Tempo of a clip after prep's tempo matching vs the reference tempo (issue 6's Done-when).
TEMPO_MATCH_TOL_BPM = 1.0
# Integrated loudness after prep's normalisation vs the target (issue 6's Done-when).
LOUDNESS_TOL_LU = 0.5
# Round trips analysis -> synthesis (Griffin-Lim / NNLS / re-picked peaks, no optimisation) on
# a 2 s plucked string, spectral convergence of the re-analysed magnitude in dB: an upper
# bound. Measured (benchmarks/representations.py): CQT about -13, mel about -21, SMS spectrum
# view about -22; a wrong scale, inverse or hop gives > -3.
CQT_ROUNDTRIP_MAX_SC_DB = -8.0
MEL_ROUNDTRIP_MAX_SC_DB = -12.0
SMS_ROUNDTRIP_MAX_SC_DB = -12.0
# CQT/mel calibration: a sinusoid of amplitude a reads log1p(512 a) at its bin; dB tolerance
# (librosa's filter lengths vs the measured gain differ by ~0.1 dB; 3.5 kHz sits between bins).
REP_SINE_CALIBRATION_DB = 0.5
# Integer PCM round trip through a file: one step of the format's resolution (plus rounding).
PCM16_ROUND_TRIP_ATOL = 2.0 / 2**15
PCM24_ROUND_TRIP_ATOL = 2.0 / 2**23
