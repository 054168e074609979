"""WebVTT captions (`.vtt`), read with webvtt-py: `<v Alice>` voice tags or `Alice: ...` in the cue.

Teams and most captioning tools tag voices; Zoom writes `Name: words` at the start of a cue. A cue
with no speaker of its own continues the last one named. Other tags are dropped, entities decoded.
"""

from __future__ import annotations

import html
import re

from rag.errors import SourceError
from rag.formats.labels import read_label, to_seconds
from rag.formats.rendered import Parsed, Segment, render

NAME = "webvtt"
SUFFIXES = (".vtt", ".txt")
_VOICE = re.compile(r"<v(?:\.[\w.-]+)?[ \t]+([^>]+)>")
_TAG = re.compile(r"</?[^>]+>")


def sniff(text: str) -> bool:
    return text.lstrip("\ufeff \t\r\n").startswith("WEBVTT")


def read(text: str, source: str) -> Parsed:
    import webvtt

    try:
        captions = webvtt.from_string(text)
    except Exception as err:  # noqa: BLE001 - webvtt-py raises several types for malformed files
        raise SourceError(f"{source}: not a valid WebVTT file ({err}); check the header and cue times") from err
    segments: list[Segment] = []
    speaker: str | None = None
    for cap in captions.captions:
        t0, t1 = to_seconds(cap.start), to_seconds(cap.end)
        for voice, words in _voices(cap.raw_text):
            if voice is None:
                label = read_label(words)
                if label is not None:
                    voice, words = label.name, words[label.end :]
            speaker = voice or speaker
            segments.append(Segment(speaker, words, t0, t1))
    if not segments:
        raise SourceError(f"{source}: the WebVTT file has no cues")
    return render(segments)


def _voices(raw: str) -> list[tuple[str | None, str]]:
    """(voice or None, plain text) for each voice span of a cue."""
    parts = _VOICE.split(raw)
    out: list[tuple[str | None, str]] = []
    if parts[0].strip():
        out.append((None, _plain(parts[0])))
    for voice, words in zip(parts[1::2], parts[2::2], strict=True):
        out.append((" ".join(voice.split()), _plain(words)))
    return out


def _plain(text: str) -> str:
    return html.unescape(_TAG.sub("", text)).strip()
