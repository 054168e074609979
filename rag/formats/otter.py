"""Otter.ai / Rev-style text exports: a `Name  0:03` line on its own, the words below it.

Recognised when at least two lines are a name followed only by a timestamp. The time of a turn
runs until the next turn's time.
"""

from __future__ import annotations

import re

from rag.asides import is_notice
from rag.formats.labels import TIME, is_name_shaped, to_seconds
from rag.formats.rendered import Parsed, Segment, render

NAME = "otter"
SUFFIXES = (".txt",)
_HEADER = re.compile(rf"^[ \t]*(?P<name>[^\W\d_][\w'’.\- ]{{0,58}}?)[ \t]+(?P<time>{TIME})[ \t]*$", re.M)


def sniff(text: str) -> bool:
    return len([m for m in _HEADER.finditer(text) if is_name_shaped(m.group("name"))]) >= 2


def read(text: str, source: str) -> Parsed:
    headers = [m for m in _HEADER.finditer(text) if is_name_shaped(m.group("name"))]
    segments: list[Segment] = []
    intro = text[: headers[0].start()].strip() if headers else text
    if intro:
        segments.append(Segment(None, intro))
    for i, m in enumerate(headers):
        body_end = headers[i + 1].start() if i + 1 < len(headers) else len(text)
        start = to_seconds(m.group("time"))
        end = to_seconds(headers[i + 1].group("time")) if i + 1 < len(headers) else None
        body, notice = text[m.end() : body_end], ""
        if i + 1 == len(headers):
            body, notice = _notice_after(body)
        segments.append(Segment(m.group("name").strip(), body, start, end))
        if notice:
            segments.append(Segment(None, notice))
    return render(segments)


def _notice_after(body: str) -> tuple[str, str]:
    """The last speaker's words and the export's footer after them ("Transcribed by https://otter.ai")."""
    paras = body.rstrip().split("\n\n")
    cut = len(paras)
    while cut > 1 and is_notice(paras[cut - 1]):
        cut -= 1
    return "\n\n".join(paras[:cut]), "\n\n".join(paras[cut:]).strip()
