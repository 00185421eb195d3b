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
