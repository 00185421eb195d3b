"""Every numeric tolerance the tests use, named in one place. Never loosen one to pass a test."""

# Identity transform through the STFT engine: output == input delayed (float32 round trip).
IDENTITY_ATOL = 1e-5
# Streaming == one-shot for the same input cut differently (batched vs single-frame FFT/matmul).
STREAM_ATOL = 1e-5
# Streaming network output vs offline network output, on log-magnitude frames.
NETWORK_STREAM_ATOL = 1e-4
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
