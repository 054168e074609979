"""The JSON shapes rag prints (`--json`), serves over HTTP and gives MCP clients: one definition each.

The field names are a stable contract (README, "JSON for other programs"); `Answer.to_dict` and
`Hit.to_dict` in `types.py` define the answer and hit shapes these reuse.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rag.pipeline import Pipeline


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
    rows = [{**h.to_dict(), "passage": pipe.passage(h)} for h in hits]
    return {"query": query, "speaker": ", ".join(who) if who else None, "hits": rows}


def speakers_json(pipe: Pipeline) -> list[dict[str, Any]]:
    """What `rag speakers --json` prints."""
    return [
        {
            "name": p.name,
            "kind": p.kind,
            "aliases": list(p.aliases),
            "roles": list(p.roles),
            "documents": list(p.doc_ids),
            "labels": [{"doc_id": d, "label": label} for d, label in p.labels],
            "linked": p.linked or None,
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
