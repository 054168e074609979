"""Synthetic meetings for the recording tests and bench: espeak-ng voices reading known scripts.

Each line of a script is spoken by one clearly different espeak-ng voice, resampled to 16 kHz and
laid end to end with short pauses (numpy), so the words and who said them when are known exactly.
"""

from __future__ import annotations

import shutil
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RATE = 16_000
# Voices that Resemblyzer separates clearly: one voice 0.91-0.95 cosine between two sentences, two of
# these 0.58-0.77 (measured here; en-gb+f2 and en-us+m7 were too close to B and A)
VOICES = {
    "A": ("en-us+m3", 25, 140),
    "B": ("en-gb+f4", 80, 140),
    "C": ("en-us+f2", 60, 140),
    "D": ("en-us-nyc+edward", 30, 130),
}


@dataclass(frozen=True)
class Line:
    who: str
    text: str
    start: float
    end: float


def has_espeak() -> bool:
    return shutil.which("espeak-ng") is not None


def speak(text: str, who: str) -> np.ndarray:
    """(n,) float32 16 kHz samples of `text` in voice `who`."""
    from scipy.signal import resample_poly

    voice, pitch, speed = VOICES[who]
    out = subprocess.run(
        ["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(speed), "--stdout", text],
        check=True,
        capture_output=True,
    ).stdout
    with wave.open(_bytes_io(out)) as w:
        rate = w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32) / 32768
    y = resample_poly(x, RATE, rate).astype(np.float32)
    nz = np.flatnonzero(np.abs(y) > 0.01)  # trim espeak's leading and trailing silence
    return y[nz[0] : nz[-1] + 1] if len(nz) else y


def _bytes_io(data: bytes):  # type: ignore[no-untyped-def]
    import io

    return io.BytesIO(data)


def meeting(script: list[tuple[str, str]], *, gap: float = 0.6, lead: float = 0.5) -> tuple[np.ndarray, list[Line]]:
    """Samples of the script spoken line by line, and when each line was said."""
    parts = [np.zeros(int(lead * RATE), np.float32)]
    lines: list[Line] = []
    t = lead
    for i, (who, text) in enumerate(script):
        s = speak(text, who)
        lines.append(Line(who, text, t, t + len(s) / RATE))
        parts.append(s)
        pause = gap + 0.25 * (i % 3)
        parts.append(np.zeros(int(pause * RATE), np.float32))
        t += len(s) / RATE + int(pause * RATE) / RATE
    return np.concatenate(parts), lines


def write_wav(path: Path, samples: np.ndarray) -> Path:
    """16-bit PCM; (n,) mono or (channels, n)."""
    x = samples if samples.ndim == 2 else samples[None]
    pcm = (np.clip(x.T, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(x.shape[0])
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())
    return path


def write_mp4(path: Path, samples: np.ndarray) -> Path:
    """An AAC audio track in an MP4 container, through PyAV."""
    import av

    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=RATE, layout="mono")
        pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16)
        for i in range(0, len(pcm), 1024):
            frame = av.AudioFrame.from_ndarray(pcm[None, i : i + 1024], format="s16", layout="mono")
            frame.sample_rate = RATE
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def words(text: str) -> list[str]:
    """Lower-case words without punctuation, for word error rate."""
    import re

    return re.findall(r"[a-z0-9']+", text.lower().replace("-", " "))


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate: word-level edit distance over the reference length."""
    r, h = words(reference), words(hypothesis)
    d = np.arange(len(h) + 1)
    for i in range(1, len(r) + 1):
        prev, d = d, np.empty_like(d)
        d[0] = i
        for j in range(1, len(h) + 1):
            d[j] = min(prev[j] + 1, d[j - 1] + 1, prev[j - 1] + (r[i - 1] != h[j - 1]))
    return float(d[len(h)]) / max(1, len(r))


def der(truth: list[Line], segments: list[dict], *, step: float = 0.05) -> tuple[float, dict[str, str]]:
    """Diarization error: share of speech time (truth) given to the wrong speaker or to nobody, under the
    best one-to-one mapping of found speakers to true ones (greedy on overlap, which is exact here).
    Returns (error, {found speaker: true speaker})."""
    end = max(x.end for x in truth) + 1
    n = int(end / step)
    true = np.full(n, "", dtype=object)
    for x in truth:
        true[int(x.start / step) : int(x.end / step)] = x.who
    found = np.full(n, "", dtype=object)
    for s in segments:
        found[int(s["start"] / step) : int(s["end"] / step) + 1] = s["speaker"]
    speech = true != ""
    pairs: dict[tuple[str, str], int] = {}
    for t, f in zip(true[speech], found[speech], strict=True):
        if f:
            pairs[(f, t)] = pairs.get((f, t), 0) + 1
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for (f, t), _ in sorted(pairs.items(), key=lambda kv: -kv[1]):
        if f not in mapping and t not in used:
            mapping[f] = t
            used.add(t)
    right = sum(1 for t, f in zip(true[speech], found[speech], strict=True) if mapping.get(f) == t)
    return 1 - right / max(1, int(speech.sum())), mapping
