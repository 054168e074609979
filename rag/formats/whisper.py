"""Whisper and WhisperX JSON: `{"segments": [{"start", "end", "text", "speaker"?}, ...]}`.

`speaker` comes from diarization (WhisperX: `SPEAKER_00`); without it the segments are narration
and the build warns that nobody is named. Times are seconds. A truthy `uncertain` (rag's own
recording transcripts) marks a stretch whose speaker is not sure.
"""

from __future__ import annotations

import json
from typing import Any

from rag.errors import SourceError
from rag.formats.rendered import Parsed, Segment, render

NAME = "whisper"
SUFFIXES = (".json",)


def sniff(text: str) -> bool:
    segments = _segments(_json(text))
    return bool(segments) and isinstance(segments[0], dict) and {"start", "end", "text"} <= set(segments[0])


def read(text: str, source: str) -> Parsed:
    segments = _segments(_json(text))
    if not segments:
        raise SourceError(f"{source}: expected Whisper JSON with a non-empty 'segments' list")
    out = []
    for i, seg in enumerate(segments):
        if not isinstance(seg, dict) or not isinstance(seg.get("text"), str):
            raise SourceError(f"{source}: segment {i} needs a string 'text'")
        speaker = seg.get("speaker")
        try:
            start, end = float(seg["start"]), float(seg["end"])
        except (KeyError, TypeError, ValueError) as err:
            raise SourceError(f"{source}: segment {i} needs numeric 'start' and 'end' seconds") from err
        who = speaker if isinstance(speaker, str) and speaker.strip() else None
        out.append(Segment(who, seg["text"], start, end, bool(seg.get("uncertain"))))
    return render(out)


def _segments(obj: Any) -> list[Any]:
    segments = obj.get("segments") if isinstance(obj, dict) else obj
    return segments if isinstance(segments, list) else []


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None
