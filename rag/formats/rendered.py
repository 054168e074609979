"""Render timed or structured segments into a transcript text with one `Speaker: words` line per turn.

Formats whose bytes are not a clean transcript (JSON, WebVTT, SRT, Otter exports) become this text,
which is stored in the index, so a quote is still `doc.text[start:end]`; each source segment keeps
its span, speaker and times as a `Cue`. Nothing here reads files.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rag.formats.labels import strip_invisible
from rag.types import Cue


@dataclass(frozen=True, slots=True)
class Segment:
    """One piece of a source: who (None when the source does not say), what, and when."""

    speaker: str | None
    text: str
    time_start: float | None = None
    time_end: float | None = None
    uncertain: bool = False  # the speaker of this stretch is not sure (rag.recordings)


@dataclass(frozen=True, slots=True)
class Parsed:
    """What a format reader returns: the document text and, for rendered formats, its cues."""

    text: str
    cues: tuple[Cue, ...] = ()


def render(segments: Iterable[Segment], *, merge: bool = True) -> Parsed:
    """One line per turn; with `merge`, consecutive segments of one speaker share a line.

    Example: [Segment("Ann", "Hi."), Segment("Ann", "Bye.")] -> "Ann: Hi. Bye." with two cues
    """
    lines: list[str] = []
    cues: list[Cue] = []
    offset = 0  # where the current line starts in the final text
    last: str | None | bool = False  # the current line's speaker (False: no line yet)
    for seg in segments:
        words = " ".join(seg.text.split())
        speaker = " ".join(strip_invisible(seg.speaker).split()).replace(":", " ").strip() if seg.speaker else None
        if merge and not words:
            continue
        if merge and lines and speaker == last:
            lines[-1] += " "
            start = offset + len(lines[-1])
            lines[-1] += words
        else:
            if lines:
                offset += len(lines[-1]) + 1
            lines.append(f"{speaker}: " if speaker else "")
            start = offset + len(lines[-1])
            lines[-1] += words
            last = speaker
        cues.append(Cue(start, start + len(words), speaker or None, seg.time_start, seg.time_end, seg.uncertain))
    return Parsed("\n".join(lines), tuple(cues))
