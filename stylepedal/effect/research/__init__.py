"""The seeds' method and its yardsticks: the per-input optimiser, analysis/synthesis
representations (stft, engine, cqt, mel, sms), offline reconstruction, metrics and clip prep.
Used by the CLI and the benchmarks; the engine and the host never import it."""
