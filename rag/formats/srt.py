"""SubRip subtitles (`.srt`), read with pysubs2. A `Name:` label opens a speaker; cues without one
continue the last speaker named (subtitle editors label only the first cue of a turn)."""

from __future__ import annotations

import re

from rag.errors import SourceError
from rag.formats.labels import read_label
from rag.formats.rendered import Parsed, Segment, render

NAME = "srt"
SUFFIXES = (".srt", ".txt")
_CUE = re.compile(r"^\s*\d+\s*\n\s*\d{1,2}:\d{2}:\d{2}[,.]\d{1,3}\s*-->", re.M)


def sniff(text: str) -> bool:
    return _CUE.match(text.lstrip("\ufeff")) is not None


def read(text: str, source: str) -> Parsed:
    import pysubs2

    try:
        subs = pysubs2.SSAFile.from_string(text, format_="srt")
    except Exception as err:  # noqa: BLE001 - pysubs2 raises several types for malformed files
        raise SourceError(f"{source}: not a valid SRT file ({err}); check the cue numbers and times") from err
    segments: list[Segment] = []
    speaker: str | None = None
    for event in subs:
        words = event.plaintext.strip()
        label = read_label(words)
        if label is not None:
            speaker, words = label.name, words[label.end :]
        segments.append(Segment(speaker, words, event.start / 1000, event.end / 1000))
    if not segments:
        raise SourceError(f"{source}: the SRT file has no cues")
    return render(segments)
