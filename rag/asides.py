"""Text that is nobody's turn: stage directions and the notices at a transcript's end.

Both are told by their shape, the way a reader skips them: an aside is a paragraph that is all
one bracketed, parenthesised or starred remark; a notice is a copyright, accuracy or certificate
line, or a "Transcribed by" footer.
"""

from __future__ import annotations

import re

from rag.formats.labels import TIME

_CLOCK = rf"(?:{TIME})(?:[ \t]?[AaPp]\.?[Mm]\.?)?"
_ENCLOSED = re.compile(r"\((?:[^()]|\([^()]*\))*\)|\[[^\[\]]*\]|\*[^*]+\*|_[^_]+_", re.S)
_TAGS = re.compile(r"</?[a-zA-Z][^<>\n]{0,60}>")


def is_stage(text: str) -> bool:
    """A paragraph that is all one bracketed or starred aside: "(Recess taken at 3:12 p.m.)",
    "[laughter]", "<i>(Applause)</i>", "10:39 AM *Priya Nair joined #incident*". Nobody's words.

    Example: is_stage("(SOUNDBITE OF CROWD CHATTER)") -> True; is_stage("(laughs) I agree.") -> False
    """
    body = _TAGS.sub("", text).strip()
    body = re.sub(rf"^[\[(]?{_CLOCK}[\])]?[ \t]+", "", body)
    return bool(body) and _ENCLOSED.fullmatch(body) is not None


_NOTICE = re.compile(
    r"(?i)\b(?:transcribed (?:by|using|with)|transcri(?:ption (?:service|by)|pt (?:provided|produced|prepared|by))|"
    r"copyright|all rights reserved|"
    r"©|\(c\) \d{4}|may not be (?:copied|reproduced)|(?:accuracy|availability) (?:and|of) (?:this|the) transcript|"
    r"this (?:is a (?:rush|draft) )?transcript (?:may|was|is|has)|hereby certify|do certify|"
    r"end of (?:recording|transcript|tape))"
)


def is_notice(text: str) -> bool:
    """A transcript's notice at its end: copyright, accuracy disclaimers, a reporter's certificate,
    "Transcribed by ..." footers.

    Example: is_notice("Transcribed by https://otter.ai") -> True; is_notice("We transcribed it.") -> False
    """
    return _NOTICE.search(text) is not None
