"""Render whole files through a chain, streaming: flat memory, exact length, atomic output.

``stylepedal render IN [IN ...] (OUT | --out-dir D) --preset NAME [--mix X] [--pre SPEC]
[--post SPEC] [--overwrite] [--plot FIGURE.png]``

The input is read in chunks through :class:`pedalboard.io.AudioFile` and streamed through the
same :class:`~stylepedal.host.chain.Chain` a live session uses, so a render sounds like the live
pedal. The output has exactly as many frames as were read from the input, at the same rate and
channel count: the chain's latency is trimmed from the start and flushed with zeros at the end.
It is written to a temporary file in the output folder and renamed over the target only when
complete, so an error or Ctrl-C leaves nothing behind, and an existing file is replaced only
with ``overwrite=True`` (``--overwrite``).

Formats: wav, flac, ogg, mp3, aiff. MP3 files carry encoder padding: reading one gives its
padded frame count (the render writes that many). Writing MP3 delays the decoded signal by the
codec's delay (1105 samples with pedalboard 0.9's LAME/mpg123 at every rate; measured once per
rate): the render advances an MP3 output by that delay, so when it is read back the music lines
up with the input, followed by up to a few MP3 frames of padding at the end.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_output, temp_outputs
from .._memory import keep_freed_memory
from .._threads import single_threaded_math
from .._validate import check_int_range, check_positive_int
from ..audio_io import FORMATS, check_output_path, check_writable, open_audio, verify_written
from ..errors import AudioFileError, ParameterError
from ._rates import RateRestorer, at_processing_rate, resample
from ._signals import start_worker, stop_if_orphaned, stop_pool, worker_job

__all__ = [
    "FORMATS",
    "RenderResult",
    "mp3_codec_delay",
    "render_file",
    "render_files",
]

log = logging.getLogger(__name__)

DEFAULT_CHUNK_FRAMES = 65536


@dataclass(frozen=True)
class RenderResult:
    """What :func:`render_file` did: frames, rate, channels, latency trimmed, seconds taken."""

    in_path: Path
    out_path: Path
    frames: int
    sample_rate: int
    channels: int
    latency_samples: int
    seconds: float
    excerpt: tuple[np.ndarray, np.ndarray] | None = None  # (input, output) starts, if kept

    @property
    def realtime_factor(self) -> float:
        """Audio seconds rendered per second of wall time."""
        return (self.frames / self.sample_rate) / max(self.seconds, 1e-9)


@functools.cache
def mp3_codec_delay(sample_rate: int, channels: int) -> int:
    """Samples by which pedalboard's MP3 write + read delays a signal, measured with a burst.

    Examples
    --------
    >>> mp3_codec_delay(44100, 2)
    1105
    """
    import io

    from pedalboard.io import AudioFile

    burst_at, burst = 4096, 4096
    x = np.zeros((channels, burst_at + burst + 8192), np.float32)
    x[:, burst_at : burst_at + burst] = 0.3 * np.random.default_rng(0).standard_normal(burst)
    buf = io.BytesIO()
    with AudioFile(buf, "w", samplerate=sample_rate, num_channels=channels, format="mp3") as f:
        f.write(x)
    buf.seek(0)
    with AudioFile(buf) as f:
        y = f.read(f.frames)
    span = burst_at + burst
    corr = np.correlate(y[0, : span + 8192], x[0, :span], mode="valid")
    return int(np.argmax(corr))


def _cores() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _bit_depth(file_dtype: str, suffix: str) -> int:
    """Keep the input's resolution where the output format can hold it."""
    if file_dtype in ("int8", "uint8", "int16"):
        return 16
    if suffix == ".wav" and file_dtype.startswith("float"):
        return 32
    return 24


@contextlib.contextmanager
def _write_errors(out_path: Path) -> Iterator[None]:
    """A failing write (a full disk...) as an AudioFileError; the target is not replaced."""
    try:
        yield
    except (RuntimeError, OSError) as exc:
        raise AudioFileError(
            f"cannot write {str(out_path)!r}: {exc} (disk full?); the old file, if any, is "
            "unchanged"
        ) from exc


def render_file(
    in_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    chain: Any,
    *,
    chunk_frames: int = DEFAULT_CHUNK_FRAMES,
    overwrite: bool = False,
    progress: bool = True,
    progress_callback: Callable[[int, int], None] | None = None,
    keep_seconds: float = 0.0,
    channel_workers: bool | None = None,
    learn_input: bool = True,
) -> RenderResult:
    """Stream ``in_path`` through ``chain`` into ``out_path`` (atomically).

    Parameters
    ----------
    in_path, out_path : path-like
        Audio files (wav, flac, ogg, mp3, aiff); the output format follows its extension.
    chain : Chain
        Effects to apply (see :func:`build_chain`); it is restarted for this file.
    chunk_frames : int
        Frames read and processed per step; memory use is proportional to it, not to the file.
    overwrite : bool
        Replace an existing ``out_path``; otherwise an existing file is an error (and untouched).
    progress : bool
        Show a progress bar on stderr.
    progress_callback : callable, optional
        Called as ``progress_callback(frames_done, frames_total)`` after every chunk;
        an exception it raises (e.g. KeyboardInterrupt) aborts the render cleanly.
    keep_seconds : float
        Also keep this many seconds of the input and output start in memory (for a figure),
        returned as ``result.excerpt`` = ``(input, output)``.
    channel_workers : bool, optional
        Run each channel of the chain's stylepedal effects but the first in its own worker
        process, the effects after the last of them in the first worker, a block behind (see
        :meth:`Chain.stream`): the same output, bit for bit, faster on a multi-core machine.
        Default (None): on when the file has more than one channel and lasts at least 5 s, and
        this process may use more than one core.
    learn_input : bool
        First read the whole file once through the effects before the chain's first
        stylepedal effect, which learns the input's long-term spectrum from it
        (:meth:`~stylepedal.effect.engine.effect.StyleTransfer.learn_input`), so its colour
        is right from the first note. False renders as the live pedal plays: the colour stage
        learns as the input goes.

    Returns
    -------
    RenderResult

    Raises
    ------
    AudioFileError
        for a missing, corrupt or unsupported input, an unwritable output, or an existing
        output without ``overwrite``.

    Examples
    --------
    >>> import tempfile, numpy as np, pedalboard
    >>> from pedalboard.io import AudioFile
    >>> from stylepedal.host.chain import Chain
    >>> d = tempfile.mkdtemp()
    >>> with AudioFile(f"{d}/in.wav", "w", samplerate=44100, num_channels=2) as f:
    ...     f.write(np.zeros((2, 44100), np.float32))
    >>> r = render_file(f"{d}/in.wav", f"{d}/out.flac", Chain([pedalboard.Reverb()]),
    ...                 progress=False)
    >>> r.frames, r.sample_rate, r.channels
    (44100, 44100, 2)
    """
    from pedalboard.io import AudioFile

    in_path, out_path = Path(in_path), Path(out_path)
    chunk_frames = check_positive_int(chunk_frames, "chunk_frames")
    if channel_workers is not None and not isinstance(channel_workers, bool):
        raise ParameterError(f"channel_workers={channel_workers!r} must be True, False or None")
    check_output_path(out_path, inputs=[in_path], overwrite=overwrite,
                      option="--overwrite (overwrite=True)")
    suffix = out_path.suffix.lower()

    keep_freed_memory()  # per-block buffers reused, not re-faulted (see stylepedal._memory)
    started = time.perf_counter()
    # one thread per math library: the pools fight over the cores otherwise (stylepedal._threads)
    with single_threaded_math(), open_audio(in_path, name="input") as source:
        # a rate the engine cannot run at is rendered at another and written back (_rates)
        file_rate, file_frames = int(round(source.samplerate)), int(source.frames)
        reader = at_processing_rate(source)
        sample_rate = int(round(reader.samplerate))
        channels = int(reader.num_channels)
        total = int(reader.frames)  # exact for every format pedalboard reads (mp3 incl. padding)
        if channel_workers is None:
            channel_workers = channels > 1 and total >= 5 * sample_rate and _cores() > 1
        check_writable(out_path, file_rate, channels)  # the file's own rate: before any work
        _learn_input(chain, in_path, chunk_frames, learn=learn_input)
        # after learning: a render's hindsight colour adds its delay
        latency = chain.latency_samples(sample_rate, channels=channels)
        # An MP3 output is written ahead by the codec's delay so that it decodes aligned.
        advance = mp3_codec_delay(file_rate, channels) if suffix == ".mp3" else 0
        advance = int(round(advance * sample_rate / file_rate))
        bar = None
        try:
            keep = int(keep_seconds * sample_rate)
            kept_in: list[np.ndarray] = []
            kept_out: list[np.ndarray] = []
            kept_in_n = kept_out_n = 0
            # Anything, including KeyboardInterrupt, leaves no partial output behind.
            def verify(tmp: Path) -> None:  # a full disk must not pass for a finished file
                verify_written(tmp, frames=file_frames - short, channels=channels,
                               sample_rate=file_rate, target=out_path)

            with atomic_output(out_path, overwrite=overwrite, error=AudioFileError,
                               verify=verify) as tmp:
                try:
                    writer = AudioFile(
                        str(tmp), "w", samplerate=file_rate, num_channels=channels,
                        bit_depth=_bit_depth(str(reader.file_dtype), suffix),
                    )
                except (ValueError, RuntimeError, OSError) as exc:
                    raise AudioFileError(
                        f"output {str(out_path)!r} cannot be written as {suffix} at "
                        f"{file_rate} Hz with {channels} channels: {exc}"
                    ) from exc
                with writer:
                    sink = RateRestorer(writer, sample_rate, file_rate, channels=channels,
                                        frames=file_frames)
                    to_skip = latency + advance
                    read = written = short = 0

                    def emit(y: np.ndarray) -> None:
                        nonlocal to_skip, written, kept_out_n
                        if to_skip:
                            k = min(to_skip, y.shape[1])
                            to_skip -= k
                            y = y[:, k:]
                        if y.shape[1]:
                            if not np.isfinite(y).all():
                                raise ParameterError(
                                    f"the chain's output for {str(in_path)!r} holds NaN/Inf "
                                    "samples (an effect setting overflows, e.g. a huge gain "
                                    "in --pre/--post): nothing was written"
                                )
                            with _write_errors(out_path):
                                sink.write(y)
                            written += y.shape[1]
                            if kept_out_n < keep:
                                kept_out.append(y[:, : keep - kept_out_n].copy())
                                kept_out_n += kept_out[-1].shape[1]

                    def chunks() -> Iterator[np.ndarray]:
                        """The file in chunks, then zeros to flush the latency."""
                        nonlocal read, kept_in_n, bar
                        for x in _read_chunks(reader, chunk_frames):
                            read += x.shape[1]
                            if kept_in_n < keep:
                                kept_in.append(x[:, : keep - kept_in_n].copy())
                                kept_in_n += kept_in[-1].shape[1]
                            yield x
                            if progress and bar is None:
                                # made after the first block, when the stream has forked its
                                # workers: tqdm's monitor thread is not forked with them
                                from tqdm import tqdm

                                bar = tqdm(
                                    total=total, unit="frame", unit_scale=True,
                                    desc=in_path.name, leave=False,
                                )
                            if bar is not None:
                                bar.update(x.shape[1])
                            if progress_callback is not None:
                                progress_callback(read, max(total, read))
                        remaining = latency + advance
                        while remaining:
                            n = min(chunk_frames, remaining)
                            yield np.zeros((channels, n), np.float32)
                            remaining -= n

                    # closing(): an error or Ctrl-C here stops the stream (and its workers) now
                    stream = chain.stream(
                        chunks(), sample_rate, channels=channels, channel_workers=channel_workers
                    )
                    with contextlib.closing(stream):
                        for y in stream:
                            emit(y)
                    if written != read:  # pragma: no cover - guarded by the chain's contract
                        raise AudioFileError(f"rendered {written} frames for {read} read")
                    short = file_frames - getattr(reader, "source_frames_read", file_frames)
                    with _write_errors(out_path):
                        sink.finish(short_by=short)
        finally:
            if bar is not None:
                bar.close()
            chain.reset()
    excerpt = None
    if keep:
        excerpt = (
            np.concatenate(kept_in, axis=1) if kept_in else np.zeros((channels, 0), np.float32),
            np.concatenate(kept_out, axis=1) if kept_out else np.zeros((channels, 0), np.float32),
        )
        excerpt = (resample(excerpt[0], sample_rate, file_rate),
                   resample(excerpt[1], sample_rate, file_rate))
    return RenderResult(
        in_path=in_path,
        out_path=out_path,
        frames=file_frames - short if file_rate != sample_rate else read,
        sample_rate=file_rate,
        channels=channels,
        latency_samples=int(round(latency * file_rate / sample_rate)),  # at the file's rate
        seconds=time.perf_counter() - started,
        excerpt=excerpt,
    )


# ---------------------------------------------------------------------------- several files
def _read_chunks(reader: Any, chunk_frames: int) -> Iterator[np.ndarray]:
    """An open audio file, from where it stands, in float32 ``(channels, frames)`` chunks."""
    while True:
        x = reader.read(chunk_frames)
        if x.ndim != 2 or x.shape[-1] == 0:
            return
        yield np.ascontiguousarray(x, dtype=np.float32)


def _learn_input(chain: Any, path: Path, chunk_frames: int, *, learn: bool) -> None:
    """The chain's first stylepedal effect learns ``path`` as it will hear it (through the
    effects before it, which then start afresh) and fits its colour to the style once, before
    any channel's process starts; every other forgets what it learnt."""
    from ..effect.engine.effect import StyleTransfer

    items = list(chain)
    styles = [i for i, item in enumerate(items) if isinstance(item, StyleTransfer)]
    for i in styles:
        items[i].forget_input()
    if not learn or not styles:
        return
    first = items[styles[0]]
    if not first.learns_input:
        return
    with open_audio(path, name="input") as source:
        reader = at_processing_rate(source)
        sample_rate = int(round(reader.samplerate))
        for x in _read_chunks(reader, chunk_frames):
            for item in items[: styles[0]]:
                x = np.asarray(item.process(x, sample_rate, reset=False), dtype=np.float32)
            first.learn_input(x, sample_rate)
    for item in items[: styles[0]]:
        item.reset()
    first.fit_to_style(sample_rate)


# A worker process of render_files(jobs > 1) builds its chain once and reuses it for every
# file (render_file starts and resets it): (settings, chain).
_worker_chain: tuple[dict[str, Any], Any] | None = None


def _chain_in_worker(chain_args: dict[str, Any]) -> Any:
    global _worker_chain
    if _worker_chain is None or _worker_chain[0] != chain_args:
        from .chain import build_chain

        _worker_chain = (dict(chain_args), build_chain(**chain_args))
    return _worker_chain[1]


def _warm_worker(chain_args: dict[str, Any]) -> None:
    """Submitted first: the worker imports and loads the model while the parent starts too."""
    with worker_job():
        _chain_in_worker(chain_args)


def _render_job(
    chain_args: dict[str, Any], src: Path, dst: Path, options: dict[str, Any]
) -> RenderResult:
    """One file in a worker process: the worker's chain, same settings. Once its parent is
    gone the worker stops without publishing the file."""
    def check_parent(done: int, total: int) -> None:
        stop_if_orphaned()

    with worker_job():
        result = render_file(src, dst, _chain_in_worker(chain_args),
                             progress_callback=check_parent, **options)
    return result


def render_files(
    pairs: Sequence[tuple[Path, Path]],
    chain_args: dict[str, Any],
    *,
    jobs: int = 1,
    overwrite: bool = False,
    progress: bool = True,
    chunk_frames: int = DEFAULT_CHUNK_FRAMES,
    keep_seconds: float = 0.0,
    learn_input: bool = True,
    on_done: Callable[[Path, Path, RenderResult], None] | None = None,
) -> list[RenderResult]:
    """Render ``(input, output)`` pairs through the chain :func:`build_chain` makes of
    ``chain_args``, ``jobs`` files at a time (this process and ``jobs - 1`` workers).

    With ``jobs=1`` the files go one after another, each using the machine's cores through
    :meth:`Chain.stream`'s channel workers; with more, every core gets a file of its own.
    Every file is tried; the first error is raised after all have finished (outputs are
    atomic: a failed file leaves nothing). ``keep_seconds`` keeps the start of the first
    file in its result's ``excerpt``; ``on_done(src, dst, result)`` is called per file.

    Raises
    ------
    ParameterError
        for ``jobs`` outside 1..64 or a bad chain setting (before any work).
    AudioFileError
        for an existing output without ``overwrite`` (before any work) or a file that fails.
    """
    jobs = check_int_range(jobs, "jobs", 1, 64)
    for src, dst in pairs:  # fail before any work rather than after the first file
        check_output_path(dst, inputs=[src], overwrite=overwrite)
    jobs = min(jobs, len(pairs))

    def options(i: int, *, parallel: bool) -> dict[str, Any]:
        return {"chunk_frames": chunk_frames, "overwrite": overwrite,
                "progress": progress and not parallel,
                "keep_seconds": keep_seconds if i == 0 else 0.0, "learn_input": learn_input,
                # files rendered in parallel already give every core a file of its own
                "channel_workers": False if parallel else None}

    pool = None
    if jobs > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # Workers start now (model load), while this process does the same. spawn, not fork:
        # this process may have math libraries' threads, which fork does not copy.
        pool = ProcessPoolExecutor(max_workers=jobs - 1,
                                   mp_context=multiprocessing.get_context("spawn"),
                                   initializer=start_worker, initargs=(os.getpid(),))
        for _ in range(jobs - 1):
            pool.submit(_warm_worker, chain_args)
    from .chain import build_chain

    try:
        chain = build_chain(**chain_args)  # checks the preset and the specs before any work
    except BaseException:
        if pool is not None:
            stop_pool(pool)
        raise
    if pool is None:
        results = []
        for i, (src, dst) in enumerate(pairs):
            result = render_file(src, dst, chain, **options(i, parallel=False))
            _log_result(src, dst, result)
            if on_done is not None:
                on_done(src, dst, result)
            results.append(result)
        return results
    try:
        results = _run_jobs(pairs, chain_args, pool, jobs - 1, chain, options, on_done)
    except BaseException:  # Ctrl-C, SIGTERM or a failed file: no worker may go on alone
        stop_pool(pool)
        raise
    pool.shutdown()
    return results


def _log_result(src: Path, dst: Path, result: RenderResult) -> None:
    log.info(
        "%s -> %s: %d frames, %d Hz, %d ch, latency %d samples trimmed, %.1fx real time",
        src, dst, result.frames, result.sample_rate, result.channels,
        result.latency_samples, result.realtime_factor,
    )


def _run_jobs(
    pairs: Sequence[tuple[Path, Path]],
    chain_args: dict[str, Any],
    pool: Any,
    workers: int,
    chain: Any,
    options: Callable[..., dict[str, Any]],
    on_done: Callable[[Path, Path, RenderResult], None] | None,
) -> list[RenderResult]:
    """Render ``pairs`` here and in ``pool``'s ``workers`` processes: this process takes files
    from the end of the list with ``chain``, the workers from the front (one feeder thread
    each)."""
    import threading
    from collections import deque
    from concurrent.futures.process import BrokenProcessPool

    todo = deque(range(len(pairs)))
    lock = threading.Lock()
    results: list[RenderResult | None] = [None] * len(pairs)
    errors: dict[int, BaseException] = {}

    def take(front: bool) -> int | None:
        with lock:
            if not todo:
                return None
            return todo.popleft() if front else todo.pop()

    def done(i: int, result: RenderResult | None, exc: BaseException | None) -> None:
        src, dst = pairs[i]
        if exc is not None:
            log.error("%s: %s", src, exc)
            errors[i] = exc
            return
        assert result is not None
        results[i] = result
        _log_result(src, dst, result)
        if on_done is not None:
            on_done(src, dst, result)

    stopping = threading.Event()  # this process is stopping: the workers' ends are not news

    def feed() -> None:  # one thread per worker: hands it the next file from the front
        while not stopping.is_set() and (i := take(front=True)) is not None:
            try:
                future = pool.submit(_render_job, chain_args, *pairs[i],
                                     options(i, parallel=True))
                done(i, future.result(), None)
            except BrokenProcessPool:
                if stopping.is_set():
                    return
                done(i, None, _worker_died(*pairs[i]))
                return  # the pool takes no more work: this process renders the rest
            except BaseException as exc:  # report every file, then raise the first error
                if stopping.is_set():
                    return
                done(i, None, exc)

    feeders = [threading.Thread(target=feed, daemon=True) for _ in range(workers)]
    for t in feeders:
        t.start()
    try:
        while (i := take(front=False)) is not None:
            try:
                done(i, render_file(*pairs[i], chain, **options(i, parallel=True)), None)
            except Exception as exc:
                done(i, None, exc)
        for t in feeders:
            t.join()
    except BaseException:
        stopping.set()
        raise
    if errors:
        raise errors[min(errors)]
    return [r for r in results if r is not None]


def _worker_died(src: Path, dst: Path) -> AudioFileError:
    """The error for a file whose worker process died mid-render (killed from outside, or by
    the kernel for lack of memory): it could not remove its own temporary output, so it goes
    here."""
    for tmp in temp_outputs(dst):
        tmp.unlink(missing_ok=True)
    return AudioFileError(
        f"{str(src)!r}: the worker process rendering it died (killed by a signal, or for "
        f"lack of memory); {str(dst)!r} was not written"
    )
