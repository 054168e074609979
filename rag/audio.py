"""Decode audio and video files into 16 kHz float32 samples, a piece at a time (PyAV, no ffmpeg binary).

A three-hour recording is never held whole: `pieces` yields consecutive stretches of at most
`seconds` seconds. Stereo files whose channels carry different people (one person per channel, as
phone and interview recorders write them) can be read channel by channel. Damaged, empty, silent
and unsupported files raise a `SourceError` of one line. This module knows samples, not words.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import SourceError

RATE = 16_000  # samples per second, what Whisper and the speaker encoder expect
SUFFIXES = (".wav", ".mp3", ".m4a", ".ogg", ".oga", ".opus", ".flac", ".aac", ".wma", ".mp4", ".webm", ".mov", ".mkv")
VIDEO = (".mp4", ".webm", ".mov", ".mkv")


@dataclass(frozen=True, slots=True)
class AudioInfo:
    """What a file holds: its length in seconds (0 when the container does not say), channels, codec."""

    duration: float
    channels: int
    codec: str


def _av() -> Any:
    try:
        import av
    except ImportError as err:
        raise ImportError('reading recordings needs the audio extra: pip install -e ".[audio]"') from err
    return av


def _open(path: Path) -> Any:
    av = _av()
    if path.stat().st_size == 0:
        raise SourceError(f"{path}: the file is empty (0 bytes); record or export it again")
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as err:
        raise SourceError(f"{path}: not a readable audio or video file ({_why(err)}); export it again") from err
    if not container.streams.audio:
        container.close()
        raise SourceError(f"{path}: has no audio track; export the recording with its sound")
    return container


def probe(path: Path) -> AudioInfo:
    """The file's length, channels and codec, read from its header.

    Raises:
        SourceError: empty, unreadable, or without an audio track.
    """
    container = _open(path)
    try:
        stream = container.streams.audio[0]
        duration = 0.0
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / 1_000_000
        return AudioInfo(duration, int(stream.codec_context.channels or 1), stream.codec_context.name or "?")
    finally:
        container.close()


def pieces(path: Path, *, seconds: float = 600.0, split: bool = False) -> Iterator[tuple[float, np.ndarray]]:
    """(offset in seconds, samples) for consecutive stretches of the file, resampled to 16 kHz.

    Samples are (n,) float32 in [-1, 1] mixed to mono, or (channels, n) with `split`.
    Example: next(pieces(Path("a.wav")))[1].shape -> (98880,)

    Raises:
        SourceError: unreadable file, unsupported codec, or damage before any sound was decoded.
    """
    av = _av()
    container = _open(path)
    try:
        stream = container.streams.audio[0]
        channels = int(stream.codec_context.channels or 1)
        layout = "mono" if not split or channels == 1 else ("stereo" if channels == 2 else None)
        if layout is None:
            raise SourceError(f"{path}: {channels} channels; one person per channel is read for stereo files only")
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=RATE)
        size = int(seconds * RATE)
        buffer: list[np.ndarray] = []
        held = 0
        offset = 0.0
        decoded = 0
        try:
            for packet in container.demux(stream):
                for frame in packet.decode():
                    for out in resampler.resample(frame):
                        block = out.to_ndarray().astype(np.float32, copy=False)  # (channels, n)
                        buffer.append(block)
                        held += block.shape[1]
                        decoded += block.shape[1]
                    while held >= size:
                        joined = np.concatenate(buffer, axis=1)
                        yield offset, _shape(joined[:, :size], split)
                        offset += size / RATE
                        rest = joined[:, size:]
                        buffer, held = ([rest], rest.shape[1]) if rest.shape[1] else ([], 0)
            for out in resampler.resample(None):
                buffer.append(out.to_ndarray().astype(np.float32, copy=False))
        except av.error.DecoderNotFoundError as err:
            raise SourceError(
                f"{path}: the codec {stream.codec_context.name!r} cannot be decoded here; "
                "convert it, e.g. ffmpeg -i IN -c:a flac OUT.flac"
            ) from err
        except (av.error.FFmpegError, ValueError) as err:
            if decoded == 0:
                raise SourceError(f"{path}: damaged, no sound could be decoded ({_why(err)}); export it again") from err
            raise SourceError(
                f"{path}: damaged after {decoded / RATE:.0f} s ({_why(err)}); cut it there or export it again"
            ) from err
        if buffer:
            joined = np.concatenate(buffer, axis=1)
            if joined.shape[1]:
                yield offset, _shape(joined, split)
        elif decoded == 0:
            raise SourceError(f"{path}: no sound could be decoded (damaged or empty audio track); export it again")
    finally:
        container.close()


def is_silent(samples: np.ndarray) -> bool:
    """Nothing louder than about -50 dBFS: a silent recording or a muted track."""
    return samples.size == 0 or float(np.max(np.abs(samples))) < 0.003


def channels_differ(samples: np.ndarray) -> bool:
    """(2, n) samples whose channels carry different voices: each channel is loud where the other is quiet.

    Measured on 0.5 s frames: in one-person-per-channel files most speech frames are at least 10x
    louder in one channel; in ordinary stereo (one microphone, two channels) the two stay within 2x.
    """
    if samples.ndim != 2 or samples.shape[0] != 2:
        return False
    frame = RATE // 2
    n = samples.shape[1] // frame
    if n == 0:
        return False
    energy = np.sqrt(np.mean(samples[:, : n * frame].reshape(2, n, frame) ** 2, axis=2)) + 1e-6  # (2, n)
    loud = energy.max(axis=0) > 0.01
    if loud.sum() < 4:
        return False
    ratio = energy.max(axis=0)[loud] / energy.min(axis=0)[loud]
    return bool(np.mean(ratio > 10) > 0.6 and (energy[0][loud] > energy[1][loud]).mean() not in (0.0, 1.0))


def _shape(block: np.ndarray, split: bool) -> np.ndarray:
    return np.ascontiguousarray(block if split else block[0])


def _why(err: Exception) -> str:
    return " ".join(str(getattr(err, "strerror", None) or err).split())[:120]
