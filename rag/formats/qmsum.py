"""QMSum-style JSON: `[{"speaker", "content"}, ...]` or an object with `meeting_transcripts`.

Rendered one `Speaker: content` line per turn, never merged, so line i is turn i (the QMSum
benchmark's gold spans count turns).
"""

from __future__ import annotations

import json
from typing import Any

from rag.errors import SourceError
from rag.formats.rendered import Parsed, Segment, render

NAME = "qmsum"
SUFFIXES = (".json",)


def sniff(text: str) -> bool:
    obj = _json(text)
    if isinstance(obj, dict):
        return "meeting_transcripts" in obj
    return isinstance(obj, list) and bool(obj) and isinstance(obj[0], dict) and "start" not in obj[0]


def read(text: str, source: str) -> Parsed:
    obj = _json(text)
    turns = obj.get("meeting_transcripts") if isinstance(obj, dict) else obj
    if not isinstance(turns, list) or not turns:
        raise SourceError(f"{source}: expected a list of {{'speaker', 'content'}} turns")
    for i, turn in enumerate(turns):
        if not (
            isinstance(turn, dict) and isinstance(turn.get("speaker"), str) and isinstance(turn.get("content"), str)
        ):
            raise SourceError(f"{source}: turn {i} needs string fields 'speaker' and 'content'")
        if not turn["speaker"].strip():
            raise SourceError(f"{source}: turn {i} has an empty speaker")
    return render((Segment(t["speaker"], t["content"]) for t in turns), merge=False)


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None
