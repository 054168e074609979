"""Pure formatting for the chat: answers with [n] links, source cards with the quote highlighted,
refusals, the corpus line, and the Markdown export. No gradio here, so it is easy to test.

Transcript text is always HTML-escaped before it is placed in markup.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rag import Answer, Citation, Pipeline

if TYPE_CHECKING:
    from rag.question import Query
from ui.player import player_html

_MARKER = re.compile(r"\[(\d+)\]")


def anchor(turn: int, n: int) -> str:
    """The HTML id of citation n of answer number `turn`: anchor(2, 1) -> "cite-2-1"."""
    return f"cite-{turn}-{n}"


def link_markers(text: str, turn: int, numbers: Sequence[int]) -> str:
    """Escape `text` and turn each valid [n] into a link to its source card.

    Example: link_markers('He said “x” [1]', 0, [1]) -> 'He said “x” <a class="cite" href="#cite-0-1">[1]</a>'
    """
    valid = set(numbers)

    def repl(m: re.Match[str]) -> str:
        n = int(m.group(1))
        if n not in valid:
            return m.group(0)
        return f'<a class="cite" href="#{anchor(turn, n)}">[{n}]</a>'

    return _MARKER.sub(repl, html.escape(text, quote=False))


def highlight(text: str, start: int, end: int) -> str:
    """Escaped `text` with text[start:end] wrapped in <mark>."""
    return (
        html.escape(text[:start], quote=False)
        + "<mark>"
        + html.escape(text[start:end], quote=False)
        + "</mark>"
        + html.escape(text[end:], quote=False)
    )


def source_card(pipe: Pipeline, c: Citation, turn: int) -> str:
    """A collapsible card: who speaks, where, and the quote highlighted in its paragraph(s)."""
    doc = pipe.documents[c.doc_id]
    t = pipe.turn(c.doc_id, pipe.chunk(c.chunk_id).turn)
    paras = [(s, e) for s, e in t.paragraphs if s < c.end and c.start < e]
    start, end = (paras[0][0], paras[-1][1]) if paras else (c.start, c.end)
    before = next((i for i, p in enumerate(t.paragraphs) if p[0] == start), 0)
    body = highlight(doc.text[start:end], c.start - start, c.end - start).replace("\n", "<br>")
    who = html.escape(c.speaker or "Narration (not said in the interview)")
    where = (
        f"{html.escape(c.source)} · characters {c.start:,}–{c.end:,} · "
        f"paragraph {before + 1} of {len(t.paragraphs)} of this turn" + (f" · at {c.when}" if c.when else "")
    )
    return (
        f'<details class="source-card" id="{anchor(turn, c.n)}">'
        f'<summary><span class="cite-n">[{c.n}]</span> <b class="who">{who}</b> '
        f'<span class="doc">{html.escape(c.doc_id)}</span></summary>'
        f'<div class="turn-text">{body}</div><div class="where">{where}</div>{player_html(c, document=doc)}</details>'
    )


def render_answer(pipe: Pipeline, answer: Answer, turn: int, *, searched: str = "") -> str:
    """The assistant message: a status line, the answer with links, then its source cards."""
    status = f'<div class="status">{html.escape(searched, quote=False)}</div>' if searched else ""
    numbers = [c.n for c in answer.citations]
    if not answer.answerable:
        which = bool(getattr(answer, "candidates", None)) or answer.reason.startswith("ambiguous")
        head = "Which one?" if which else "Not in the transcripts." if not answer.citations else "Not as asked."
        if answer.text.startswith("Who do you mean"):  # a question back: nothing was looked for, nothing is missing
            head = ""
        linked = link_markers(answer.text, turn, numbers)
        bold = f"<b>{head}</b> " if head else ""
        refusal = f'<div class="refusal">{bold}{linked}{candidate_buttons(answer)}</div>'
        cards = "".join(source_card(pipe, c, turn) for c in answer.citations)  # a wrong premise: who did say it
        return f'{status}{refusal}<div class="sources">{cards}</div>' if cards else f"{status}{refusal}"
    grouped = quote_list(answer)
    text = link_markers(answer.text, turn, numbers) if grouped is None else render_quote_list(grouped, turn, numbers)
    cards = "".join(source_card(pipe, c, turn) for c in answer.citations)
    note = generation_note(answer)
    return f'{status}<div class="answer">{text}</div>{note}<div class="sources">{cards}</div>'


# One "Lead: “quote” [n]" part of an extractive answer (rag.answer writes them joined by spaces).
_PART = re.compile(r"\s*(?P<lead>[^“”\[\]]*?): “(?P<quote>.*?)” \[(?P<n>\d+)\](?=\s|$)", re.S)


@dataclass(frozen=True)
class QuoteGroup:
    """The quotes of one speaker, per document when the answer spans several.

    `quotes` holds (doc_id or "", [(quote, n), ...]) in the answer's order.
    """

    speaker: str
    quotes: tuple[tuple[str, tuple[tuple[str, int], ...]], ...]


def quote_list(answer: Answer) -> tuple[list[QuoteGroup], str] | None:
    """An extractive answer of two or more plain "X said: “...” [n]" parts as groups by speaker
    (and by document when there are several), plus any closing note; None for anything else
    (one quote, narration, "quoting", a model's answer), which is shown as written.

    Example: 'A said: “x” [1] B said: “y” [2] A also said: “z” [3]' ->
        ([QuoteGroup("A", (("", (("x", 1), ("z", 3))),)), QuoteGroup("B", (("", (("y", 2),)),))], "")
    """
    if not answer.answerable or answer.mode != "extractive" or len(answer.citations) < 2:
        return None
    by_n = {c.n: c for c in answer.citations}
    parts, pos = [], 0
    while (m := _PART.match(answer.text, pos)) is not None:
        parts.append(m)
        pos = m.end()
    rest = answer.text[pos:].strip()
    if len(parts) != len(answer.citations) or (rest and not (rest.startswith("(") and rest.endswith(")"))):
        return None
    several_docs = len({c.doc_id for c in answer.citations}) > 1
    speakers: dict[str, dict[str, list[tuple[str, int]]]] = {}
    for m in parts:
        c = by_n.get(int(m.group("n")))
        if c is None or c.speaker is None or m.group("lead") not in (f"{c.speaker} said", f"{c.speaker} also said"):
            return None
        docs = speakers.setdefault(c.speaker, {})
        docs.setdefault(c.doc_id if several_docs else "", []).append((m.group("quote"), c.n))
    groups = [
        QuoteGroup(who, tuple((doc, tuple(quotes)) for doc, quotes in docs.items())) for who, docs in speakers.items()
    ]
    return groups, rest


def render_quote_list(grouped: tuple[list[QuoteGroup], str], turn: int, numbers: Sequence[int]) -> str:
    """Groups from `quote_list` as a heading per speaker and a short list of quotes (escaped, linked)."""
    groups, rest = grouped
    out = []
    for g in groups:
        out.append(f'<p class="said">{html.escape(g.speaker, quote=False)} said:</p>')
        for doc, quotes in g.quotes:
            items = "".join(f"<li>{link_markers(f'“{q}” [{n}]', turn, numbers)}</li>" for q, n in quotes)
            where = f'<p class="in-doc">in {html.escape(doc, quote=False)}</p>' if doc else ""
            out.append(f'{where}<ul class="quotes">{items}</ul>')
    if rest:
        out.append(f'<p class="note">{link_markers(rest, turn, numbers)}</p>')
    return "".join(out)


def candidate_buttons(answer: Answer) -> str:
    """ "Which one?" replies: a button per candidate, when the answer lists them.

    rag's Answer has no structured candidates yet; this expects `answer.candidates` to be people
    (`.name`, `.doc_ids`, `.where`) and renders nothing without it, rather than parse the text.
    """
    candidates = getattr(answer, "candidates", None) or ()
    buttons = []
    for p in candidates:
        doc = p.doc_ids[0] if len(p.doc_ids) == 1 else ""
        label = html.escape(getattr(p, "where", p.name), quote=False)
        # the hidden spans carry what the click asks with (Gradio's sanitiser drops data- attributes)
        buttons.append(
            f'<button class="candidate" type="button">{label}'
            f'<span class="pick-name">{html.escape(p.name, quote=False)}</span>'
            f'<span class="pick-doc">{html.escape(doc, quote=False)}</span></button>'
        )
    return f'<div class="candidates" role="group" aria-label="Which one?">{"".join(buttons)}</div>' if buttons else ""


def generation_note(answer: Answer) -> str:
    """For model-written answers: what was checked, and what was removed and why."""
    if answer.mode == "extractive":
        return ""
    if answer.mode == "generated":
        head = "Written by a language model; every sentence checked against its sources."
    else:
        head = f"Showing the quoted answer: {answer.reason}."
    items = "".join(
        f"<li>{html.escape(d.sentence, quote=False)} <i>({html.escape(d.reason, quote=False)})</i></li>"
        for d in answer.dropped
    )
    removed = ""
    if answer.dropped:
        removed = f"<details><summary>{len(answer.dropped)} sentence(s) removed</summary><ul>{items}</ul></details>"
    return f'<div class="generation">{html.escape(head, quote=False)}{removed}</div>'


def searched_line(pipe: Pipeline, answer: Answer, *, doc_id: str | None = None) -> str:
    """What was looked at, e.g. "Searched Dannenberg's answers (6 passages)"."""
    where = f" in {doc_id}" if doc_id else ""
    if answer.speaker:
        names = [s.strip() for s in answer.speaker.split(",")]
        n = pipe.count(speakers=names, doc_id=doc_id)
        owned = [name + ("'" if name.endswith("s") else "'s") for name in names]
        who = owned[0] if len(owned) == 1 else ", ".join(owned[:-1]) + " and " + owned[-1]
        return f"Searched {who} answers{where} ({count(n, 'passage')})"
    if doc_id:
        return f"Searched {doc_id} ({count(pipe.count(doc_id=doc_id), 'passage')})"
    return f"Searched all {count(pipe.count(), 'passage')} in {count(len(pipe.documents), 'document')}"


def carried_line(query: Query, own: Query, *, picked: bool = False) -> str:
    """What a follow-up took from the earlier question, as the status line says it ("" for none).

    `own` is the question read alone (what its own words name); `picked`: the speaker picker chose
    the person. Example: "What else did he say?" after "What did Dannenberg say about Helsinki?" ->
        "From the earlier question: Dannenberg; not what the last answer quoted."
    """
    if not query.followup or query.unclear:
        return ""
    parts = []
    if query.speakers and not own.speakers and not picked:
        parts.append(", ".join(query.speakers))
    if query.carried and query.topic:
        parts.append(f"the topic “{query.topic}”")
    elif query.context:
        parts.append(f"the topic “{query.context}”")
    if query.wants_other:
        parts.append("not what the last answer quoted")
    return f"From the earlier question: {'; '.join(parts)}." if parts else ""


def count(n: int, noun: str) -> str:
    """count(1, "passage") -> "1 passage"; count(6, "passage") -> "6 passages"."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def plain_answer(answer: Answer) -> str:
    """The answer as plain text with its sources, for the clipboard.

    Example: 'Dannenberg said: “…” [1]\n\n[1] Dannenberg, seeds/x.txt (characters 10,531–10,708): “…”'
    """
    lines = [" ".join(answer.text.split())]
    if answer.citations:
        lines.append("")
    for c in answer.citations:
        when = f", at {c.when}" if c.when else ""
        who = c.speaker or "Narration"
        lines.append(
            f"[{c.n}] {who}, {c.source} (characters {c.start:,}–{c.end:,}{when}): “{' '.join(c.quote.split())}”"
        )
    return "\n".join(lines)


def documents_rows(documents: Sequence[dict[str, Any]]) -> list[list[str]]:
    """The documents panel: name, speakers, turns, when added (rows of `rag.views.documents_json`)."""
    rows = []
    for d in documents:
        speakers = d["speakers"]
        shown = ", ".join(speakers[:6]) + (f", … {len(speakers) - 6} more" if len(speakers) > 6 else "")
        added = (d.get("added_at") or "")[:16].replace("T", " ") or "-"  # to the minute, UTC
        rows.append([d["doc_id"], shown or "(narration only)", f"{d['turns']:,}", added])
    return rows


def plain(text: str) -> str:
    """Text from a document or a user, safe inside a Markdown component: no HTML, no Markdown.

    Example: plain("<b>Ann</b> [x](y)") -> "&lt;b&gt;Ann&lt;/b&gt; \\[x\\](y)"
    """
    return re.sub(r"([\\`*_\[\]#|~])", r"\\\1", html.escape(text, quote=False))


def corpus_line(pipe: Pipeline) -> str:
    """ "1 document · 2 speakers (Dannenberg, McLaughlin) · 19 passages", names made plain text."""
    speakers = [plain(p.name) for p in pipe.speakers()]
    docs = len(pipe.documents)
    shown = ", ".join(speakers[:8]) + (f", … {len(speakers) - 8} more" if len(speakers) > 8 else "")
    people = count(len(speakers), "speaker")
    return f"{count(docs, 'document')} · {people} ({shown}) · {count(len(pipe.chunks), 'passage')}"


def span_clock(start: float | None, end: float | None) -> str:
    """span_clock(26, 33.4) -> "00:00:26–00:00:33"; the times a caption citation covers."""

    def clock(t: float) -> str:
        t = int(t)
        return f"{t // 3600:02d}:{t % 3600 // 60:02d}:{t % 60:02d}"

    if start is None:
        return ""
    return clock(start) + (f"–{clock(end)}" if end is not None else "")


def export_markdown(exchanges: Sequence[dict[str, Any]]) -> str:
    """The conversation as Markdown with each answer's citations and verbatim quotes."""
    lines = ["# Conversation", ""]
    for i, ex in enumerate(exchanges, 1):
        a = ex["answer"]
        lines += [f"## {i}. {ex['question']}", ""]
        if ex.get("speaker"):
            lines += [f"*Speaker filter: {ex['speaker']}*", ""]
        lines += [a["answer"] if a["answerable"] else f"> Not answered: {a['answer']}", ""]
        for c in a["citations"]:
            who = c["speaker"] or "Narration"
            quote = " ".join(c["quote"].split())
            when = (
                f", at {span_clock(c.get('time_start'), c.get('time_end'))}" if c.get("time_start") is not None else ""
            )
            lines += [
                f"[{c['n']}] {who}, {c['source']} (characters {c['start']}–{c['end']}{when}):",
                "",
                f"> {quote}",
                "",
            ]
    return "\n".join(lines).rstrip() + "\n"
