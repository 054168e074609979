"""Who speaks when: a voice vector per stretch of speech (Resemblyzer's GE2E encoder), clustered.

Words are grouped into stretches split at pauses (people rarely change without one); a long stretch
is cut into windows of about two seconds. Each window gets a 256-d voice vector, the vectors are
clustered by average linkage on cosine distance, and each window goes to its nearest cluster.
A window is *uncertain* when it is very short, when its two nearest clusters are close (overlapping
voices, or a voice the clusters do not hold) or when it fits no cluster well: such stretches are
marked, never given a confident name. Speakers are numbered by when they first speak. This module
knows samples and times; it does not transcribe (`rag.transcribe`) or store (`rag.recordings`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from rag.audio import RATE

PAUSE = 0.35  # seconds of silence between words that start a new stretch
WINDOW = 5.0  # seconds: longer stretches are cut into windows of about this length
# Windows merge while their average cosine distance is below THRESHOLD (over-splitting on purpose),
# then clusters whose centroids have a cosine above SAME. A fixed window threshold alone was fragile
# on the synthetic meetings (0.25 split a voice of one, 0.3 merged two voices of another); centroid
# merging measured in tests/test_recordings.py (DER per meeting printed there).
THRESHOLD = 0.25
SAME = 0.85
FINE = 1.5  # seconds: the spans that check a window from inside (see fine_spans)
MIN_SPEAKER_SECONDS = 3.0  # a cluster with less speech than this is not a speaker (a cough, a mixed window)
MIN_MARGIN = 0.08  # best minus second-best cluster similarity below this: uncertain
MIN_FIT = 0.65  # best cluster similarity below this: uncertain
MIN_SECONDS = 0.6  # windows shorter than this: uncertain (too little voice to tell)
OVERLAP = "overlap or unclear"  # why a window whose voices could not be told apart is uncertain
MAX_CLUSTERED = 3000  # windows clustered exactly; the rest join their nearest cluster


@dataclass(frozen=True, slots=True)
class Window:
    """A stretch of speech: its words (indices into the word list) and its times in seconds."""

    first: int
    last: int  # inclusive
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class Label:
    """Who speaks in a window: a 0-based speaker number in order of appearance, and why it may be wrong."""

    speaker: int
    uncertain: str = ""  # "" when confident, else "short", "overlap or unclear" or "no clear match"


def windows(
    times: Sequence[tuple[float, float]],
    *,
    opens: Sequence[bool] = (),
    pause: float = PAUSE,
    window: float = WINDOW,
) -> list[Window]:
    """Group word times into windows: split at pauses and where a Whisper segment opens (`opens[i]`:
    word i starts a sentence, where speakers change even when Whisper's word times hide the pause),
    then into pieces of about `window` seconds.

    Example: windows([(0, .4), (.5, .9), (2, 2.4)]) -> [Window(0, 1, 0, .9), Window(2, 2, 2, 2.4)]
    """
    out: list[Window] = []
    first = 0
    for i in range(1, len(times) + 1):
        if i == len(times) or times[i][0] - times[i - 1][1] > pause or (i < len(opens) and opens[i]):
            _cut(times, first, i - 1, window, out)
            first = i
    return out


def _cut(times: Sequence[tuple[float, float]], first: int, last: int, window: float, out: list[Window]) -> None:
    start = first
    for i in range(first, last + 1):
        long_enough = times[i][1] - times[start][0] >= window and times[last][1] - times[i][1] >= window / 2
        if i == last or long_enough:
            out.append(Window(start, i, times[start][0], times[i][1]))
            start = i + 1


def pauses(samples: np.ndarray, offset: float, *, least: float = 0.3) -> np.ndarray:
    """(n, 2) seconds of the silences of at least `least` seconds in (n,) samples starting at `offset`.

    Whisper's word times can run over a pause (it stretches words when it drops punctuation, as it
    does under overlapping voices); the audio itself still shows the pause.
    """
    frame = RATE // 100  # 10 ms
    n = len(samples) // frame
    if n == 0:
        return np.zeros((0, 2))
    rms = np.sqrt(np.mean(samples[: n * frame].reshape(n, frame) ** 2, axis=1))
    quiet = rms < max(1e-4, 0.03 * float(np.percentile(rms, 95)))  # about 30 dB under the speech
    edges = np.flatnonzero(np.diff(np.concatenate([[0], quiet.astype(np.int8), [0]])))
    runs = edges.reshape(-1, 2)  # [start, end) frames of each quiet run
    runs = runs[(runs[:, 1] - runs[:, 0]) >= int(least * 100)]
    return offset + runs.astype(np.float64) / 100


def breaks(times: Sequence[tuple[float, float]], silent: np.ndarray) -> list[bool]:
    """breaks[i]: a silence of the audio lies between word i-1 and word i (their midpoints)."""
    mids = [(a + b) / 2 for a, b in times]
    centres = np.sort((silent[:, 0] + silent[:, 1]) / 2) if len(silent) else np.zeros(0)
    out = [False] * len(times)
    for i in range(1, len(times)):
        j = int(np.searchsorted(centres, mids[i - 1]))
        out[i] = j < len(centres) and centres[j] < mids[i]
    return out


def fine_spans(found: Sequence[Window], *, length: float = FINE, hop: float = FINE / 3) -> list[tuple[float, float]]:
    """Spans of `length` seconds every `hop` inside each window, in time order (a short window is its own span).

    A window's vector says whose voice dominates it; these check each part of it, so a second voice
    inside it (overlapping speech, or a change the pauses did not show) is found and marked.
    """
    spans: list[tuple[float, float]] = []
    for w in found:
        if w.end - w.start <= length:
            spans.append((w.start, w.end))
            continue
        starts = np.arange(w.start, w.end - length + 1e-6, hop).tolist()
        if w.end - length - starts[-1] > 1e-6:
            starts.append(w.end - length)
        spans += [(float(s), float(s) + length) for s in starts]
    return spans


def inside(sims: np.ndarray, spans: np.ndarray, at: float) -> tuple[int, float] | None:
    """The cluster nearest to the spans covering time `at`, and its margin over the next one.

    `sims` (m, k): each span's cosine to each cluster; `spans` (m, 2) seconds, sorted by start.
    """
    lo = int(np.searchsorted(spans[:, 0], at - FINE - 1e-6))
    hi = int(np.searchsorted(spans[:, 0], at, side="right"))
    rows = [j for j in range(lo, hi) if spans[j, 1] >= at]
    if not rows:
        return None
    mean = sims[rows].mean(0)
    order = np.argsort(-mean)
    margin = float(mean[order[0]] - mean[order[1]]) if len(order) > 1 else 1.0
    return int(order[0]), margin


@lru_cache(maxsize=1)
def load_encoder() -> Any:
    """Resemblyzer's voice encoder on the CPU (weights ship in the package)."""
    try:
        from resemblyzer import VoiceEncoder
    except ImportError as err:
        raise ImportError('speaker detection needs the audio extra: pip install -e ".[audio]"') from err
    return VoiceEncoder(device="cpu", verbose=False)


def embed(samples: np.ndarray, offset: float, spans: Sequence[tuple[float, float]]) -> np.ndarray:
    """(len(spans), 256) float32 voice vectors of the spans (seconds) of (n,) samples starting at `offset`."""
    import torch

    encoder = load_encoder()
    mel = mel_frames(samples)  # (frames, 40), one frame per 10 ms
    out = np.zeros((len(spans), 256), dtype=np.float32)
    threads = torch.get_num_threads()
    # One thread: after CTranslate2's OpenMP pool has run, two torch threads made this LSTM 45x slower
    # (10 s instead of 0.2 s for 15 windows on 2 cores).
    torch.set_num_threads(1)
    try:
        _encode(encoder, mel, offset, spans, out)
    finally:
        torch.set_num_threads(threads)
    return out


def _encode(
    encoder: Any, mel: np.ndarray, offset: float, spans: Sequence[tuple[float, float]], out: np.ndarray
) -> None:
    import torch

    with torch.no_grad():
        for i, (start, end) in enumerate(spans):
            a = max(0, int((start - offset - 0.1) * 100))
            b = min(len(mel), int((end - offset + 0.1) * 100))
            if b - a < 10:
                continue
            frames = mel[a:b]
            parts = (
                [frames[j : j + 160] for j in range(0, max(1, len(frames) - 80), 80)] if len(frames) > 240 else [frames]
            )
            vecs = [encoder(torch.from_numpy(np.ascontiguousarray(p))[None].to(encoder.device)) for p in parts]
            v = torch.cat(vecs).mean(0).cpu().numpy()
            out[i] = v / (np.linalg.norm(v) + 1e-9)


def mel_frames(samples: np.ndarray) -> np.ndarray:
    """(frames, 40) mel power spectrogram as Resemblyzer computes it (25 ms Hann windows every 10 ms).

    Equal to `resemblyzer.audio.wav_to_mel_spectrogram` to 1e-6, without librosa's STFT (whose first
    call compiles for about 4 s).
    """
    y = np.pad(samples.astype(np.float32), 200)
    n = 1 + (len(y) - 400) // 160
    if n <= 0:
        return np.zeros((0, 40), np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(y, 400)[::160][:n]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(400) / 400)
    power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2  # (frames, 201)
    mel: np.ndarray = (power @ _mel_filters().T).astype(np.float32)
    return mel


@lru_cache(maxsize=1)
def _mel_filters() -> np.ndarray:
    import librosa  # a Resemblyzer dependency

    return np.asarray(librosa.filters.mel(sr=RATE, n_fft=400, n_mels=40), dtype=np.float64)  # (40, 201)


def cluster(
    vectors: np.ndarray, seconds: np.ndarray, *, threshold: float = THRESHOLD, same: float = SAME
) -> np.ndarray:
    """(k, 256) unit centroids of the voices in (n, 256) vectors, first-heard voice first.

    Average linkage on cosine distance, cut low at `threshold` (a voice may split, two voices do
    not mix); then clusters whose duration-weighted centroids are closer than `same` merge (centroids
    are steadier than single windows), and clusters with too little speech join their nearest
    neighbour (under MIN_SPEAKER_SECONDS: a cough, a laugh or a mixed window is not a speaker).
    """
    from scipy.cluster.hierarchy import fcluster, linkage

    keep = np.flatnonzero(np.linalg.norm(vectors, axis=1) > 0.5)
    if len(keep) == 0:
        return np.zeros((0, vectors.shape[1]), np.float32)
    if len(keep) == 1:
        return vectors[keep]
    sample = keep if len(keep) <= MAX_CLUSTERED else keep[np.linspace(0, len(keep) - 1, MAX_CLUSTERED).astype(int)]
    labels = fcluster(linkage(vectors[sample], method="average", metric="cosine"), t=threshold, criterion="distance")
    groups = [sample[labels == g] for g in np.unique(labels)]
    groups.sort(key=lambda g: int(g.min()))
    centroids = [_unit((vectors[g] * seconds[g, None]).sum(0)) for g in groups]
    sizes = [float(seconds[g].sum()) for g in groups]
    while len(centroids) > 1:  # voices whose centroids are alike are one voice
        sims = np.stack(centroids) @ np.stack(centroids).T
        np.fill_diagonal(sims, -2.0)
        i, j = (int(x) for x in np.unravel_index(int(np.argmax(sims)), sims.shape))
        if sims[i, j] < same:
            break
        a, b = min(i, j), max(i, j)
        centroids[a] = _unit(centroids[a] * sizes[a] + centroids[b] * sizes[b])
        sizes[a] += sizes[b]
        del centroids[b], sizes[b]
    while len(centroids) > 1 and min(sizes) < MIN_SPEAKER_SECONDS:
        small = int(np.argmin(sizes))
        sims = [float(centroids[small] @ c) if j != small else -2.0 for j, c in enumerate(centroids)]
        into = int(np.argmax(sims))
        total = sizes[into] + sizes[small]
        centroids[into] = _unit(centroids[into] * sizes[into] + centroids[small] * sizes[small])
        sizes[into] = total
        del centroids[small], sizes[small]
    return np.stack(centroids).astype(np.float32)


def assign(vectors: np.ndarray, seconds: np.ndarray, centroids: np.ndarray) -> list[Label]:
    """The nearest voice of each window, marked uncertain when short, ambiguous or a poor fit."""
    if len(centroids) == 0:
        return [Label(0, "no clear match") for _ in range(len(vectors))]
    sims = vectors @ centroids.T  # (n, k)
    order = np.argsort(-sims, axis=1)
    labels: list[Label] = []
    for i in range(len(vectors)):
        best = int(order[i, 0])
        fit = float(sims[i, best])
        margin = fit - float(sims[i, order[i, 1]]) if len(centroids) > 1 else 1.0
        why = ""
        if seconds[i] < MIN_SECONDS or np.linalg.norm(vectors[i]) < 0.5:
            why = "short"
        elif margin < MIN_MARGIN:
            why = OVERLAP
        elif fit < MIN_FIT:
            why = "no clear match"
        labels.append(Label(best, why))
    # number speakers by first confident appearance
    first: dict[int, int] = {}
    for lab in labels:
        if lab.speaker not in first and not lab.uncertain:
            first[lab.speaker] = len(first)
    for lab in labels:
        first.setdefault(lab.speaker, len(first))
    return [Label(first[lab.speaker], lab.uncertain) for lab in labels]


def _unit(v: np.ndarray) -> np.ndarray:
    unit: np.ndarray = (v / (np.linalg.norm(v) + 1e-9)).astype(np.float32)
    return unit


__all__ = ["RATE", "Label", "Window", "assign", "cluster", "embed", "load_encoder", "windows"]
