"""The JSON shapes rag prints (`--json`), serves over HTTP and gives MCP clients: one definition each.

The field names are a stable contract (README, "JSON for other programs"); `Answer.to_dict` and
`Hit.to_dict` in `types.py` define the answer and hit shapes these reuse. `check_request` and
`check_document` are the bounds every way in (CLI, HTTP, MCP) puts on what a caller sends.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import QuestionError, UnknownDocumentError

if TYPE_CHECKING:
    from rag.config import Settings
    from rag.pipeline import Pipeline
    from rag.types import Answer


def answer_json(pipe: Pipeline, answer: Answer) -> dict[str, Any]:
    """What `rag ask --json` prints: `Answer.to_dict`, each citation's `uncertain` set when it quotes a
    recording's stretch whose speaker is not sure (overlap, very short, unclear voice)."""
    from rag.recordings import flag_uncertain

    return flag_uncertain(answer, pipe.documents).to_dict()


def check_request(
    settings: Settings,
    *,
    k: object = None,
    history: Sequence[object] = (),
    texts: Iterable[tuple[str, object]] = (),
) -> None:
    """Refuse, in one line, a size or text no interface may pass on to the pipeline.

    `k` (when given) must be 1 to `settings.max_k`; `history` at most `settings.max_history`
    questions; `texts` are (name, value) pairs (question, speaker, doc_id); every text and history
    question must be encodable as UTF-8 (a JSON "\\ud800" is not) and at most
    `settings.max_question_chars` long. Example:
    check_request(Settings(), k=0) raises QuestionError("k must be 1 to 100, not 0").

    Raises:
        QuestionError: the first value out of bounds, named, with the bound.
    """
    if k is not None and (isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= settings.max_k):
        shown = repr(k) if len(repr(k)) <= 40 else repr(k)[:40] + "..."
        raise QuestionError(f"k must be a whole number from 1 to {settings.max_k}, not {shown}")
    if len(history) > settings.max_history:
        raise QuestionError(
            f"history has {len(history):,} questions, over the {settings.max_history} limit; send the latest ones"
        )
    for i, h in enumerate(history):
        if not isinstance(h, str):
            raise QuestionError(f"history[{i}] must be text, not {type(h).__name__}")
        if len(h) > settings.max_question_chars:
            raise QuestionError(
                f"history[{i}] is {len(h):,} characters, over the {settings.max_question_chars:,} limit; shorten it"
            )
    for name, value in [*texts, *((f"history[{i}]", h) for i, h in enumerate(history))]:
        if isinstance(value, str):
            check_text(name, value)
            if len(value) > settings.max_question_chars:
                raise QuestionError(
                    f"the {name} is {len(value):,} characters, "
                    f"over the {settings.max_question_chars:,} limit; shorten it"
                )


def check_text(name: str, value: str) -> None:
    """Refuse text that cannot be written as UTF-8 (a lone surrogate such as JSON's "\\ud800")."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        raise QuestionError(
            f"{name} holds a lone surrogate (U+{ord(value[err.start]):04X}) at character {err.start}; "
            "send valid Unicode text"
        ) from err


def check_json_text(data: object, where: str = "body") -> None:
    """`check_text` on every string (keys too) of parsed JSON, named by its path, e.g. "history[1]".
    A loop, not recursion: the JSON may be nested deeper than Python's stack."""
    stack: list[tuple[str, object]] = [(where, data)]
    while stack:
        at, value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                check_text(f"a key in {at}", str(key))
                stack.append((str(key) if at == "body" else f"{at}.{key}", item))
        elif isinstance(value, list):
            stack.extend((f"{at}[{i}]", item) for i, item in enumerate(value))
        elif isinstance(value, str):
            check_text(at, value)


def check_document(pipe: Pipeline, doc_id: str | None) -> None:
    """Refuse a `doc_id` that names no document of the index, listing (some of) those that exist.

    Raises:
        UnknownDocumentError: "no document 'x'; documents: a, b, c".
    """
    if doc_id is None or doc_id in pipe.documents:
        return
    names = sorted(pipe.documents)
    listed = ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "")
    shown = repr(doc_id) if len(doc_id) <= 80 else repr(doc_id[:80]) + "..."
    raise UnknownDocumentError(f"no document {shown}; documents: {listed or '(none)'}")


def search_json(
    pipe: Pipeline,
    query: str,
    *,
    k: int,
    speaker: str | None,
    doc_id: str | None,
    after: str | None = None,
    before: str | None = None,
) -> dict[str, Any]:
    """What `rag search --json` prints: each hit's chunk, and its passage (the chunk and the turns
    after it, `turn` to `last_turn`, text up to `passage_end`)."""
    hits = pipe.search(query, k=k, speaker=speaker, doc_id=doc_id, after=after, before=before)
    who = pipe.read(query, speaker=speaker, doc_id=doc_id).speakers
    from rag.turns import is_uncertain

    docs = pipe.documents
    rows = [
        {
            **h.to_dict(),
            "passage": pipe.passage(h),
            "uncertain": is_uncertain(docs[h.chunk.doc_id], h.chunk.start, h.chunk.end),
        }
        for h in hits
    ]
    return {"query": query, "speaker": ", ".join(who) if who else None, "hits": rows}


def speakers_json(pipe: Pipeline, *, recordings: Path | None = None) -> list[dict[str, Any]]:
    """What `rag speakers --json` prints. With `recordings` (the index's `recordings/` folder),
    `proposed_names` lists names a recording's speaker gave themselves ("I'm Dana"), never applied
    until `rag speakers rename`."""
    from rag.recordings import proposals

    proposed = proposals(recordings) if recordings is not None else []
    return [
        {
            "name": p.name,
            "kind": p.kind,
            "aliases": list(p.aliases),
            "roles": list(p.roles),
            "documents": list(p.doc_ids),
            "labels": [{"doc_id": d, "label": label} for d, label in p.labels],
            "linked": p.linked or None,
            "proposed_names": [x for x in proposed if x["speaker"] == p.name and x["doc_id"] in p.doc_ids],
        }
        for p in pipe.people
    ]


def documents_json(pipe: Pipeline) -> list[dict[str, Any]]:
    """One row per document: id, source, format, speakers, turns, chunks, when it was added (UTC;
    None for an index built before rag kept it)."""
    counts: dict[str, int] = {}
    for c in pipe.chunks:
        counts[c.doc_id] = counts.get(c.doc_id, 0) + 1
    sources = pipe.index.manifest.get("sources", {})
    rows = []
    for doc_id, t in pipe.index.transcripts.items():
        rows.append(
            {
                "doc_id": doc_id,
                "source": t.document.source,
                "format": t.document.format,
                "speakers": list(dict.fromkeys(x.speaker for x in t.turns if x.speaker)),
                "turns": len(t.turns),
                "chunks": counts.get(doc_id, 0),
                "added_at": sources.get(doc_id, {}).get("added_at"),
            }
        )
    return rows


def message_text(content: Any) -> str:
    """A chat message's text, whether a string or a list of parts ([{"type": "text", "text": ...}]).

    Example: message_text([{"type": "text", "text": "Hi"}]) -> "Hi"
    """
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text", ""))
    if isinstance(content, list | tuple):
        return " ".join(message_text(part) for part in content if not isinstance(part, dict) or "text" in part)
    return ""
