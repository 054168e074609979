"""The `rag` command: a thin layer over the library verbs.

    rag build [PATHS...] [--index DIR]        build or update the index (no paths: the index's own sources)
    rag add PATHS... / rag remove DOC...      change the corpus explicitly
    rag check [--index DIR]                   verify every file's checksum and every quote offset
    rag ask QUESTION [--speaker S] [--json]   answer with verified quotes, or refuse
    rag search QUERY [--k K] [--json]         the best passages
    rag speakers                              who speaks, and the aliases that find them
    rag inspect [PATHS...]                    turns, excluded paragraphs and people per source
    rag eval SET [--json]                     run an evaluation set (see eval/README.md)
    rag serve [--port 8000] [--token-env N]   the HTTP API and OpenAI-compatible endpoint
    rag mcp [--index DIR]                     an MCP server over stdio

Errors print one line on stderr and exit 1; a refusal is an answer (exit 0).

Over 350 lines: one argument parser and one short function per command; each command is a few
lines over the library's verbs, so splitting them apart would only scatter the parser.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from rag import __version__
from rag.errors import RagError, SourceError
from rag.generate import add_generator_options, generator_from_options

log = logging.getLogger("rag")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    level = logging.INFO if args.verbose else logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("rag: %(message)s"))
    handler.setLevel(level)  # bm25s sets its own logger to DEBUG; filter at the handler
    logging.basicConfig(level=level, handlers=[handler])
    for noisy in ("faiss", "bm25s", "sentence_transformers", "transformers", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING if args.verbose else logging.ERROR)
    # Milvus Lite's in-process gRPC server logs a traceback for each call it does not implement
    # (pymilvus asks it for timestamps while waiting for an index); pymilvus carries on without.
    logging.getLogger("grpc._server").setLevel(logging.CRITICAL)
    try:
        return int(args.func(args) or 0)
    except RagError as err:
        print(f"rag: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("rag: interrupted; nothing was changed", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors as every other error of rag: one line on stderr, exit 1."""

    def error(self, message: str) -> NoReturn:
        print(f"rag: error: {self.prog}: {message}; see: {self.prog} --help", file=sys.stderr)
        raise SystemExit(1)


def _port(text: str) -> int:
    """A TCP port number, 1-65535 (argparse type)."""
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"--port {text[:20]!r} is not a port; use 1 to 65535 (e.g. 8000)")
    return int(text)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="rag", description="Speaker-aware question answering over transcripts.")
    p.add_argument("--version", action="version", version=f"rag {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, helptext: str) -> argparse.ArgumentParser:
        c = sub.add_parser(name, help=helptext, description=helptext)
        c.add_argument("-v", "--verbose", action="store_true", help="log what happens")
        return c

    b = command("build", "Build or update the index from transcripts (incremental, atomic).")
    b.add_argument(
        "paths",
        nargs="*",
        type=Path,
        help="files or folders (default: the index's own sources, or seeds/)",
    )
    b.add_argument("--prune", action="store_true", help="drop documents of the index that are not under PATHS")
    b.add_argument("--index", type=Path, default=Path("index"), help="index directory (default: index/)")
    b.add_argument("--max-tokens", type=int, default=200, help="cl100k tokens per chunk (default: 200)")
    b.add_argument("--overlap", type=int, default=0, help="tokens of sentence overlap between parts (default: 0)")
    b.add_argument(
        "--min-words", type=int, default=2, help="skip turns with fewer content words, e.g. 'Yeah .' (default: 2)"
    )
    b.add_argument("--aliases", type=Path, help='JSON file {"alias": "Speaker", ...}')
    b.add_argument(
        "--asr-model",
        metavar="NAME",
        help="Whisper model for recordings: tiny.en (ships), a models/whisper-NAME folder, or a path; "
        "recordings kept with another model's transcript are transcribed again",
    )
    b.add_argument("--json", action="store_true", help="print the build report as JSON")
    b.add_argument(
        "--sentence-vectors",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also embed every sentence, so answers quote the one that carries the fact (default: on; "
        "--no-sentence-vectors halves the embedding work of a large corpus); kept in the manifest",
    )
    b.add_argument(
        "--store",
        choices=("faiss", "milvus"),
        help="where vectors and BM25 terms live: faiss files (the default) or Milvus (docs/scaling.md); "
        "kept in the manifest, so later commands need no flag",
    )
    b.add_argument(
        "--milvus-uri",
        metavar="URI",
        help="http://HOST:19530 for a Milvus server (default: index/milvus.db, Milvus Lite)",
    )
    b.add_argument("--milvus-token-env", metavar="NAME", help="environment variable holding the Milvus token")
    b.add_argument("--milvus-collection", metavar="NAME", help="collection name (default: derived from the index path)")
    b.set_defaults(func=_build)

    ad = command("add", "Add transcripts (files or folders) to the index's sources and build.")
    ad.add_argument("paths", nargs="+", type=Path)
    ad.add_argument("--index", type=Path, default=Path("index"))
    ad.add_argument("--asr-model", metavar="NAME", help="Whisper model for recordings (see rag build --asr-model)")
    ad.set_defaults(func=_add)

    rm = command("remove", "Remove documents (by doc_id) from the index and build.")
    rm.add_argument("doc_ids", nargs="+", metavar="DOC")
    rm.add_argument("--index", type=Path, default=Path("index"))
    rm.set_defaults(func=_remove)

    ck = command("check", "Verify the index: every file's checksum, every quote offset, the sources.")
    ck.add_argument("--index", type=Path, default=Path("index"))
    ck.set_defaults(func=_check)

    a = command("ask", "Answer a question with verified quotes from the transcripts.")
    a.add_argument("question")
    a.add_argument("--index", type=Path, default=Path("index"))
    a.add_argument("--speaker", help="only this speaker's words (label, full name or alias)")
    a.add_argument("--doc", help="only this document (doc_id); names in the question resolve within it")
    a.add_argument("--after", metavar="DATE", help="only documents dated on or after DATE (2024-05-14 or 2024-05)")
    a.add_argument("--before", metavar="DATE", help="only documents dated on or before DATE")
    a.add_argument("--k", type=int, default=5, help="passages to draw quotes from (default: 5)")
    a.add_argument(
        "--history",
        action="append",
        default=[],
        metavar="QUESTION",
        help="an earlier question of the conversation (repeat, oldest first)",
    )
    a.add_argument("--json", action="store_true", help="print JSON (stable field names)")
    add_generator_options(a)
    a.set_defaults(func=_ask)

    s = command("search", "Show the best passages for a query.")
    s.add_argument("query")
    s.add_argument("--index", type=Path, default=Path("index"))
    s.add_argument("--k", type=int, default=5)
    s.add_argument("--speaker")
    s.add_argument("--doc", help="only this document (doc_id)")
    s.add_argument("--after", metavar="DATE", help="only documents dated on or after DATE (2024-05-14 or 2024-05)")
    s.add_argument("--before", metavar="DATE", help="only documents dated on or before DATE")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=_search)

    sp = command(
        "speakers",
        "List the speakers, their aliases, and the people quoted; rename or merge a recording's speakers.",
    )
    sp.add_argument("action", nargs="?", choices=("rename", "merge"), help="rename OLD NEW, or merge OLD INTO")
    sp.add_argument("names", nargs="*", metavar="NAME", help="the speaker and the new name (or the one to merge into)")
    sp.add_argument("--doc", help="the recording (doc_id) whose speaker to rename or merge")
    sp.add_argument("--index", type=Path, default=Path("index"))
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=_speakers)

    i = command("inspect", "Show how sources split into turns, and what is excluded as boilerplate.")
    i.add_argument("paths", nargs="*", type=Path, default=[Path("seeds")])
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=_inspect)

    sv = command("serve", "Serve the HTTP API (and an OpenAI-compatible /v1/chat/completions) on this machine.")
    sv.add_argument("--index", type=Path, default=Path("index"))
    sv.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1 (this machine only)")
    sv.add_argument("--port", type=_port, default=8000, help="1-65535 (default: 8000)")
    sv.add_argument("--token-env", metavar="NAME", help="require the bearer token held in this environment variable")
    sv.add_argument("--workers", type=int, default=1, help="worker processes sharing the port (default: 1)")
    sv.set_defaults(func=_serve)

    mc = command("mcp", "Serve the transcripts to MCP clients (agents) over stdio.")
    mc.add_argument("--index", type=Path, default=Path("index"))
    mc.set_defaults(func=_mcp)

    e = command("eval", "Run an evaluation set and write a JSON and Markdown report.")
    e.add_argument("set", type=Path, nargs="?", help="a .jsonl question set")
    e.add_argument("--index", type=Path, default=Path("index"))
    e.add_argument("--k", type=int, default=5)
    e.add_argument("--out", type=Path, default=Path("eval/results"))
    e.add_argument("--dense-only", action="store_true", help="the dense-only baseline, for comparison")
    e.add_argument(
        "--no-learned",
        dest="learned",
        action="store_false",
        help="rank without the learned relevance model (rag/models/relevance.json), for comparison",
    )
    e.add_argument("--compare", nargs=2, type=Path, metavar=("A.json", "B.json"), help="compare two runs")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=_eval)
    return p


def _settings(args: argparse.Namespace) -> Any:
    from rag.config import Settings

    aliases = {}
    if getattr(args, "aliases", None):
        aliases = _read_aliases(args.aliases)
    kwargs: dict[str, Any] = {"aliases": aliases}
    for name in ("max_tokens", "overlap", "min_words", "asr_model"):
        if hasattr(args, name):
            kwargs[name] = getattr(args, name)
    return Settings(**kwargs)


def _store(args: argparse.Namespace) -> dict[str, str] | None:
    """The store asked for on the command line, or None to keep the index's own."""
    milvus = {"uri": args.milvus_uri, "token_env": args.milvus_token_env, "collection": args.milvus_collection}
    if args.store is None and not any(milvus.values()):
        return None
    if args.store == "faiss" and any(milvus.values()):
        raise SourceError("--milvus-uri, --milvus-token-env and --milvus-collection go with --store milvus")
    if args.store == "faiss":
        return {"kind": "faiss"}
    return {"kind": "milvus", **{k: v for k, v in milvus.items() if v}}


def _build(args: argparse.Namespace) -> int:
    from rag.build import build_index

    if args.max_tokens < 16:
        raise _usage(f"--max-tokens {args.max_tokens} is too small; use 16 or more (default 200)")
    if args.overlap < 0 or args.overlap >= args.max_tokens:
        raise _usage(f"--overlap {args.overlap} must be between 0 and --max-tokens")
    bar = _Progress()
    report = build_index(
        args.paths or None,
        args.index,
        settings=_settings(args),
        progress=bar,
        prune=args.prune,
        store=_store(args),
        sentences=args.sentence_vectors,
    )
    bar.done()
    _print_report(report, args.json)
    return 0


def _add(args: argparse.Namespace) -> int:
    from rag.build import build_index
    from rag.corpus import corpus_roots
    from rag.load import collect_sources

    for path in args.paths:
        collect_sources([path])  # a folder with no transcripts is an error here, not a silent root
    roots = corpus_roots(args.index)
    known = {r.resolve() for r in roots}
    new = [p for p in dict.fromkeys(args.paths) if p.resolve() not in known]
    bar = _Progress()
    report = build_index([*roots, *new], args.index, settings=_settings(args), progress=bar)
    bar.done()
    _print_report(report, False)
    return 0


def _remove(args: argparse.Namespace) -> int:
    from rag.build import build_index
    from rag.corpus import corpus_roots
    from rag.errors import UnknownDocumentError
    from rag.index import read_manifest

    manifest = read_manifest(args.index) or {}
    sources = {d: meta["source"] for d, meta in manifest.get("sources", {}).items()}
    unknown = [d for d in args.doc_ids if d not in sources]
    if unknown:
        raise UnknownDocumentError(
            f"no document {', '.join(map(repr, unknown))} in {args.index}/; documents: {', '.join(sorted(sources))}"
        )
    gone = {sources[d] for d in args.doc_ids}
    roots = [r for r in corpus_roots(args.index) if r.as_posix() not in gone]
    if not roots:
        raise UnknownDocumentError(f"removing {', '.join(args.doc_ids)} would leave {args.index}/ empty")
    report = build_index(roots, args.index, settings=_settings(args), prune=True, exclude=sorted(gone))
    _print_report(report, False)
    return 0


def _check(args: argparse.Namespace) -> int:
    from rag.index import Index, stale_sources, verify

    problems = verify(args.index)
    index = Index.load(args.index)
    stale = stale_sources(index.manifest)
    for line in [*problems, *stale]:
        print(line)
    n_files = len(index.manifest.get("files", {}))
    print(
        f"{args.index}/: {n_files} files, {len(index.transcripts)} documents, {len(index.chunks)} chunks checked: "
        + ("ok" if not problems else f"{len(problems)} problem(s); run: rag build --index {args.index}")
        + (f"; {len(stale)} source(s) changed since the build" if stale else "")
    )
    return 1 if problems else 0


def _print_report(report: Any, as_json: bool) -> None:
    for warning in report.warnings:
        print(f"rag: warning: {warning}", file=sys.stderr)
    if as_json:
        print(
            json.dumps(
                {
                    "index": str(report.index),
                    "added": report.added,
                    "changed": report.changed,
                    "kept": report.kept,
                    "removed": report.removed,
                    "reanalysed": report.reanalysed,
                    "embedded": report.embedded,
                    "chunks": report.chunks,
                    "sentences_embedded": report.sentences,
                    "seconds": round(report.seconds, 3),
                    "embed_seconds": round(report.embed_seconds, 3),
                },
                indent=2,
            )
        )
    elif report.is_noop:
        print(f"{report.index}/ is up to date ({report.chunks} chunks from {len(report.kept)} sources)")
    else:
        parts = [
            f"{len(v)} {k}"
            for k, v in (
                ("added", report.added),
                ("changed", report.changed),
                ("removed", report.removed),
                ("unchanged", report.kept),
            )
            if v
        ]
        again = " (sources split again: rag's attribution code changed)" if report.reanalysed else ""
        print(
            f"built {report.index}/: {report.chunks} chunks ({report.embedded} embedded, "
            f"{report.sentences} sentence vectors), "
            f"{', '.join(parts)} in {report.seconds:.1f} s{again}"
        )


def _ask(args: argparse.Namespace) -> int:
    pipe = _pipeline(args)
    pipe.generator = generator_from_options(args, os.environ)
    if getattr(args, "show_unsupported", False):
        from dataclasses import replace

        pipe.settings = replace(pipe.settings, show_unsupported=True)
    answer = pipe.ask(
        args.question,
        history=args.history,
        speaker=args.speaker,
        doc_id=args.doc,
        k=args.k,
        after=args.after,
        before=args.before,
    )
    from rag.recordings import flag_uncertain

    answer = flag_uncertain(answer, pipe.documents)
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
        return 0
    print(answer.text)
    dates = pipe.index.dates() if answer.citations else {}
    for c in answer.citations:
        who = (c.speaker or "narration") + (" (speaker uncertain)" if c.uncertain else "")
        when = f" at {c.when}" if c.when else ""
        dated = f" ({dates[c.doc_id]})" if dates.get(c.doc_id) and dates[c.doc_id] not in c.source else ""
        print(f"  [{c.n}] {who}, {c.source}{dated} [{c.start}:{c.end}]{when}")
    if answer.mode != "extractive":
        print(
            f"  ({answer.mode}{': ' + answer.reason if answer.reason else ''}; "
            f"{len(answer.dropped)} sentence(s) not shown)"
        )
    return 0


def _search(args: argparse.Namespace) -> int:
    from rag.views import search_json

    pipe = _pipeline(args)
    if args.json:
        data = search_json(
            pipe, args.query, k=args.k, speaker=args.speaker, doc_id=args.doc, after=args.after, before=args.before
        )
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return 0
    hits = pipe.search(
        args.query, k=args.k, speaker=args.speaker, doc_id=args.doc, after=args.after, before=args.before
    )
    if not hits:
        print("no passages match")
    for h in hits:
        text = " ".join(h.chunk.text.split())
        more = f"; with turns {h.turns[1]}-{h.turns[-1]} after it" if len(h.turns) > 1 else ""
        print(f"{h.rank}. {h.chunk.label} ({h.chunk.chunk_id}, score {h.score:.4f}{more})\n   {text[:300]}")
    return 0


def _speakers(args: argparse.Namespace) -> int:
    from rag.recordings import FOLDER, proposals

    if args.action:
        return _rename_speaker(args)
    if args.names:
        raise _usage("rag speakers takes no names without an action: rag speakers rename OLD NEW --doc DOC")
    pipe = _pipeline(args)
    people = pipe.people
    if args.json:
        from rag.views import speakers_json

        print(json.dumps(speakers_json(pipe, recordings=args.index / FOLDER), ensure_ascii=False, indent=2))
        return 0
    for p in people:
        extra = ", ".join([*p.aliases, *p.roles])
        kind = "speaker" if p.kind == "speaker" else "quoted in the text"
        docs = ", ".join(p.doc_ids)
        print(f"{p.name} ({kind}; in {docs})" + (f": {extra}" if extra else ""))
        if p.linked:
            print(f"  one person in {len(p.doc_ids)} documents: {p.linked}")
    proposed = proposals(args.index / FOLDER)
    if proposed:
        print("names the recordings give (not applied; rag speakers rename SPEAKER NAME --doc DOC):")
    for x in proposed:
        from rag.types import clock

        print(f'  {x["speaker"]} in {x["doc_id"]} may be {x["name"]}: "{x["said"]}" at {clock(x["start"])}')
    return 0


def _rename_speaker(args: argparse.Namespace) -> int:
    """rag speakers rename OLD NEW --doc D / merge OLD INTO --doc D: edit the kept transcript, rebuild."""
    from rag.build import build_index
    from rag.recordings import FOLDER, rename, speakers_of

    if len(args.names) != 2 or not args.doc:
        raise _usage(f"usage: rag speakers {args.action} OLD {'NEW' if args.action == 'rename' else 'INTO'} --doc DOC")
    old, new = args.names
    folder = args.index / FOLDER
    if args.action == "merge" and new not in speakers_of(folder, args.doc):
        raise _usage(
            f"no speaker {new!r} in {args.doc} to merge into; its speakers: {', '.join(speakers_of(folder, args.doc))}"
        )
    if args.action == "rename" and new in speakers_of(folder, args.doc):
        raise _usage(
            f"{args.doc} already has a speaker {new!r}; to make them one: "
            f"rag speakers merge {old!r} {new!r} --doc {args.doc}"
        )
    changed = rename(folder, args.doc, old, new)
    report = build_index(None, args.index)
    verb = "renamed" if args.action == "rename" else "merged"
    print(f"{verb} {old} -> {new} in {args.doc} ({changed} stretches); nothing transcribed again")
    _print_report(report, False)
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from rag.analysis import analyse
    from rag.config import Settings
    from rag.load import load_documents
    from rag.recordings import proposed_in
    from rag.turns import segment
    from rag.types import clock

    settings = Settings()
    out: list[dict[str, Any]] = []
    for doc in load_documents(args.paths, max_bytes=settings.max_source_bytes):
        t = analyse(doc, settings)
        seg = segment(doc)
        out.append(
            {
                "doc_id": doc.doc_id,
                "source": doc.source,
                "format": doc.format,
                "reading": seg.reading or f"{doc.format}: turns as the file gives them",
                "runner_up": seg.runner_up,
                "speakers": [
                    {"name": name, "turns": sum(x.speaker == name for x in t.turns)}
                    for name in dict.fromkeys(x.speaker for x in t.turns if x.speaker)
                ],
                "warnings": list(t.warnings),
                "turns": [
                    {
                        "turn": x.index,
                        "speaker": x.speaker,
                        "start": x.start,
                        "end": x.end,
                        "paragraphs": len(x.paragraphs),
                        "time_start": x.time_start,
                        "time_end": x.time_end,
                        "preview": doc.text[x.start : x.end][:80],
                    }
                    for x in t.turns
                ],
                "excluded": [
                    {"reason": x.reason, "start": x.start, "end": x.end, "text": doc.text[x.start : x.end]}
                    for x in t.excluded
                ],
                "people": [
                    {"name": p.name, "kind": p.kind, "aliases": list(p.aliases), "roles": list(p.roles)}
                    for p in t.people
                ],
                "proposed_names": proposed_in(doc) if doc.format == "recording" else [],
            }
        )
    if args.json:
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    for d in out:
        print(f"{d['source']} ({d['format']}): {len(d['turns'])} turns, {len(d['excluded'])} excluded")
        who = ", ".join(f"{s['name']} ({s['turns']} turns)" for s in d["speakers"]) or "(none: all narration)"
        print(f"  speakers: {who}")
        print(f"  read as: {d['reading']}" + (f"; runner-up: {d['runner_up']}" if d["runner_up"] else ""))
        for w in d["warnings"]:
            print(f"  warning: {w}")
        for x in d["proposed_names"]:
            print(f'  proposed (not applied): {x["speaker"]} may be {x["name"]}: "{x["said"]}"')
        for x in d["turns"][:50]:
            when = f" {clock(x['time_start'])}" if x["time_start"] is not None else ""
            print(
                f"  turn {x['turn']:>3}{when} {x['speaker'] or '(narration)':<20} {x['paragraphs']:>2} para  "
                f"[{x['start']}:{x['end']}] {x['preview']!r}"
            )
        if len(d["turns"]) > 50:
            print(f"  ... {len(d['turns']) - 50} more turns")
        for x in d["excluded"]:
            print(f"  excluded ({x['reason']}) [{x['start']}:{x['end']}] {x['text'][:100]!r}")
        for p in d["people"]:
            print(
                f"  {p['kind']}: {p['name']}"
                + (f" = {', '.join(p['aliases'] + p['roles'])}" if p["aliases"] or p["roles"] else "")
            )
    return 0


def _eval(args: argparse.Namespace) -> int:
    try:
        from rag.evaluate import compare_runs, run_eval
    except ImportError as err:
        raise _usage(f"evaluation needs its extra: pip install -e '.[eval]' ({err})") from err
    if args.compare:
        print(compare_runs(*args.compare))
        return 0
    if args.set is None:
        raise _usage("name a question set, e.g. rag eval eval/sets/seed.jsonl")
    from rag.config import Settings
    from rag.views import check_request

    check_request(Settings(), k=args.k)
    result = run_eval(
        args.set,
        index=args.index,
        k=args.k,
        out=args.out,
        dense_only=args.dense_only,
        learned=args.learned,
        progress=_Progress(),
    )
    print(json.dumps(result.summary, indent=2) if args.json else result.table)
    return 0


def _serve(args: argparse.Namespace) -> int:
    from rag.serve import run, run_workers

    token = _token(args.token_env)
    if not 1 <= args.workers <= 64:
        raise _usage(f"--workers must be 1 to 64, not {args.workers}")
    pipe = _pipeline(args)  # loaded here too, so a broken index is one line before any worker starts
    print(f"rag API on http://{args.host}:{args.port}/v1 (docs at /docs)", file=sys.stderr, flush=True)
    if args.workers == 1:
        run(pipe, host=args.host, port=args.port, token=token)
    else:
        run_workers(str(args.index), host=args.host, port=args.port, workers=args.workers, token=token)
    return 0


def _mcp(args: argparse.Namespace) -> int:
    from rag.mcp_server import run

    run(_pipeline(args))
    return 0


def _token(name: str | None) -> str | None:
    if name is None:
        return None
    value = os.environ.get(name, "").strip()
    if not value:
        raise _usage(f"--token-env {name}: the environment variable {name} is empty or unset; export {name}=...")
    return value


def _pipeline(args: argparse.Namespace) -> Any:
    from rag.config import Settings
    from rag.index import stale_sources
    from rag.pipeline import Pipeline
    from rag.views import check_document, check_request

    # the same bounds as HTTP and MCP, checked before the model loads
    texts = [(name, getattr(args, name, None)) for name in ("question", "query", "speaker", "doc")]
    check_request(Settings(), k=getattr(args, "k", None), history=getattr(args, "history", []), texts=texts)
    pipe = Pipeline.load(args.index)
    check_document(pipe, getattr(args, "doc", None))
    for line in stale_sources(pipe.index.manifest):
        print(f"rag: warning: {line}", file=sys.stderr)
    return pipe


def _read_aliases(path: Path) -> dict[str, str]:

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise SourceError(f'{path}: cannot read the alias map ({err}); expected {{"alias": "Speaker"}}') from err
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise SourceError(f'{path}: the alias map must be a JSON object of strings, {{"alias": "Speaker"}}')
    return data


def _usage(message: str) -> RagError:
    from rag.errors import QuestionError

    return QuestionError(message)


class _Progress:
    """A one-line progress report on stderr with rate and time left; silent when not a terminal."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.started = time.perf_counter()
        self.last = 0.0
        self.shown = False
        self.stage = ""
        from rag.transcribe import Pace

        self.pace = Pace()

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if stage == "export":
            self._line("exporting the encoder to ONNX (once per index)")
            return
        if stage == "transcribe":  # seconds of audio: shown on every call (once per piece), tty or not
            self.stage = stage
            text = f"transcribing: {self.pace(done, total)}"
            if self.tty:
                self._line(text)
            elif done >= total or now - self.last >= 10:  # a log file gets a line every 10 s, not every second
                self.last = now
                print(f"rag: {text}", file=sys.stderr, flush=True)
            return
        if stage != self.stage:  # each stage ("embed", "sentences") has its own rate
            self.stage, self.started = stage, now
        if done < total and now - self.last < 0.5:
            return
        self.last = now
        rate = done / max(now - self.started, 1e-9)
        left = (total - done) / rate if rate > 0 else 0
        self._line(f"{stage}: {done}/{total} ({100 * done / max(total, 1):.0f}%), {rate:.1f}/s, {left:.0f} s left")

    def _line(self, text: str) -> None:
        if self.tty:
            print(f"\r\033[K{text}", end="", file=sys.stderr, flush=True)
            self.shown = True
        else:
            log.info(text)

    def done(self) -> None:
        if self.shown:
            print("\r\033[K", end="", file=sys.stderr, flush=True)
