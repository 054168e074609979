"""Audio and video recordings: read through their kept transcript (WhisperX-shaped JSON).

`rag.recordings` turns the recording into that JSON (transcribed, speakers found, uncertain
stretches marked) and passes it here; from then on it is a Whisper JSON transcript, so turns,
chunks and citations are made the same way and every citation carries its times.
"""

from __future__ import annotations

from rag.audio import SUFFIXES as AUDIO_SUFFIXES
from rag.formats import whisper
from rag.formats.rendered import Parsed

NAME = "recording"
SUFFIXES = (*AUDIO_SUFFIXES, ".tracks")
BINARY = True  # the file itself is not text: rag.load reads it through rag.recordings


def sniff(text: str) -> bool:
    return False  # chosen by suffix only


def read(text: str, source: str) -> Parsed:
    """`text` is the recording's transcript JSON (rag.recordings), not the file's bytes."""
    return whisper.read(text, source)
