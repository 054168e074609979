"""The JSON shapes rag prints (`--json`), serves over HTTP and gives MCP clients: one definition each.

The field names are a stable contract (README, "JSON for other programs"); `Answer.to_dict` and
`Hit.to_dict` in `types.py` define the answer and hit shapes these reuse.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rag.pipeline import Pipeline
    from rag.types import Answer


def answer_json(pipe: Pipeline, answer: Answer) -> dict[str, Any]:
    """What `rag ask --json` prints: `Answer.to_dict`, each citation's `uncertain` set when it quotes a
    recording's stretch whose speaker is not sure (overlap, very short, unclear voice)."""
    from rag.recordings import flag_uncertain

    return flag_uncertain(answer, pipe.documents).to_dict()


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
    from rag.recordings import is_uncertain

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
