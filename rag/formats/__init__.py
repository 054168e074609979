"""Transcript formats: one module per format, chosen by file extension, then by sniffing the content.

    text     .txt .md   labelled paragraphs, stored as written          (rag.formats.text)
    qmsum    .json      [{"speaker", "content"}] or {"meeting_transcripts"}
    whisper  .json      {"segments": [{"start", "end", "text", "speaker"?}]} (Whisper, WhisperX)
    webvtt   .vtt       <v Alice> voice tags, or "Alice:" in the cue (Teams, Zoom)
    srt      .srt       "Alice:" labels; unlabelled cues continue the last speaker
    otter    .txt       "Alice Moreno  0:03" on its own line, the words below (Otter, Rev)
    recording .wav .mp3 .m4a .mp4 ... audio and video, through their kept transcript (rag.recordings)

Each module has `NAME`, `SUFFIXES`, a cheap `sniff(text) -> bool` and `read(text, source) ->
Parsed`. When two formats claim one file, `choose` says so instead of guessing.
"""

from __future__ import annotations

import json
from types import ModuleType

from rag.errors import SourceError
from rag.formats import otter, qmsum, recording, srt, text, webvtt, whisper
from rag.formats.rendered import Parsed

# Most specific first; plain text is the fallback for .txt and .md.
FORMATS: tuple[ModuleType, ...] = (webvtt, srt, qmsum, whisper, otter, text, recording)
SUFFIXES: tuple[str, ...] = tuple(sorted({s for f in FORMATS for s in f.SUFFIXES}))
TEXT_SUFFIXES: tuple[str, ...] = tuple(sorted({s for f in FORMATS if f is not recording for s in f.SUFFIXES}))
# What rag reads, for messages: ".json, .md, .srt, .txt, .vtt, or a recording (.aac, .flac, ...)"
READABLE = f"{', '.join(TEXT_SUFFIXES)}, or a recording ({', '.join(s for s in recording.SUFFIXES if s != '.tracks')})"

__all__ = ["FORMATS", "READABLE", "SUFFIXES", "TEXT_SUFFIXES", "Parsed", "choose", "read"]


def choose(suffix: str, content: str, source: str) -> ModuleType:
    """The format of a file from its suffix and its content.

    Raises:
        SourceError: unsupported suffix, or content that no format (or more than one) accepts.
    """
    candidates = [f for f in FORMATS if suffix.lower() in f.SUFFIXES]
    if not candidates:
        raise SourceError(f"{source}: unsupported file type {suffix or '(none)'!r}; use {READABLE}")
    if suffix.lower() == ".json":
        _check_depth(content, source)  # before any reader parses it
    specific = [f for f in candidates if f is not text and f.sniff(content)]
    if len(specific) > 1:
        names = " and ".join(f.NAME for f in specific)
        raise SourceError(f"{source}: reads as both {names}; convert it to one of them")
    if specific:
        return specific[0]
    if text in candidates:
        return text
    if len(candidates) == 1:
        return candidates[0]  # let its reader say what is wrong
    if suffix.lower() == ".json":
        try:
            json.loads(content)
        except json.JSONDecodeError as err:
            raise SourceError(f"{source}: invalid JSON at line {err.lineno} column {err.colno} ({err.msg})") from err
    shapes = "; ".join(f"{f.NAME}: {(f.__doc__ or '').splitlines()[0]}" for f in candidates)
    raise SourceError(f"{source}: not a transcript JSON rag knows ({shapes})")


def read(content: str, source: str, suffix: str) -> tuple[str, Parsed]:
    """(format name, parsed text and cues) for a decoded file."""
    fmt = choose(suffix, content, source)
    parsed: Parsed = fmt.read(content, source)
    return fmt.NAME, parsed


def _check_depth(content: str, source: str) -> None:
    """Python's JSON parser recurses once per level: a file nested a thousand deep would end in a
    RecursionError traceback instead of a message."""
    try:
        json.loads(content)
    except RecursionError as err:
        raise SourceError(
            f"{source}: JSON nested too deeply (a transcript needs three levels); "
            'export it as a list of {"speaker", "content"} turns or as Whisper JSON'
        ) from err
    except ValueError:
        pass  # malformed: said below, once no format takes it
