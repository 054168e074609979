"""Recordings: transcription speed (x real time) and word error rate per Whisper model on this
machine, and the time from upload to first answer for a 10-minute recording.

python -m bench.audio            # every model found (tiny.en ships; models/whisper-* when present)
python -m bench.audio --quick    # a 2-minute recording instead of 10

The recordings are synthetic meetings of four espeak-ng voices reading known scripts
(tests/synth.py), so the word error rate is exact. Table on stdout; JSON and the table in bench/results/.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import RESULTS, ROOT, machine, self_peak_mb, table, write

sys.path.insert(0, str(ROOT))

LINES = [
    ("A", "Welcome back to the planning meeting. We have a long list of things today."),
    ("B", "The first thing is the new bike lane on the main street."),
    ("C", "People who live on the main street are worried about parking."),
    ("D", "The shop owners also need a place for their trucks."),
    ("A", "Could the trucks come early in the morning instead?"),
    ("B", "That would work for most of the shops. I talked to the owners."),
    ("C", "Then the people who live there can keep their parking at night."),
    ("D", "I will write to the shop owners before the next meeting."),
    ("A", "Good. The next thing is the library and its opening hours."),
    ("B", "The library closes too early for people who work during the day."),
    ("C", "Many parents have asked for evening hours as well."),
    ("D", "We could open later on two evenings every week."),
]


def meeting(seconds: float, folder: Path) -> tuple[Path, str, float]:
    """A wav of the script repeated to about `seconds`; its path, its words, its length."""
    import numpy as np

    from tests import synth

    script: list[tuple[str, str]] = []
    while sum(len(t) for _, t in script) / 15.0 < seconds:  # espeak-ng at 140 wpm: about 15 characters a second
        script += LINES
    x, lines = synth.meeting(script)
    n = min(len(x), int(seconds * synth.RATE))
    kept = [(line.who, line.text) for line in lines if line.end * synth.RATE <= n]
    path = synth.write_wav(folder / f"meeting-{int(seconds)}s.wav", np.ascontiguousarray(x[:n]))
    return path, " ".join(t for _, t in kept), n / synth.RATE


def speed(name: str, path: Path, reference: str, length: float) -> dict[str, Any]:
    """Transcription alone (no speakers): x real time and word error rate of one model."""
    from rag import audio, transcribe
    from tests import synth

    started = time.perf_counter()
    model = transcribe.load_model(transcribe.model_path(name))
    load = time.perf_counter() - started
    started = time.perf_counter()
    words = [w.text for offset, x in audio.pieces(path) for w in transcribe.transcribe_piece(model, x, offset).words]
    spent = time.perf_counter() - started
    return {
        "model": name,
        "multilingual": transcribe.is_multilingual(model),
        "audio_seconds": round(length, 1),
        "load_seconds": round(load, 2),
        "transcribe_seconds": round(spent, 2),
        "x_real_time": round(length / spent, 2),
        "wer": round(synth.wer(reference, "".join(words)), 4),
    }


def first_answer(path: Path, folder: Path) -> dict[str, Any]:
    """Upload to first answer: build an index from the recording (transcribe, find speakers, embed)
    with the real embedding model, load it, ask one who-said-what question."""
    from rag import Pipeline, build_index

    out = folder / "index"
    started = time.perf_counter()
    report = build_index([path], out)
    built = time.perf_counter() - started
    pipe = Pipeline.load(out)
    answer = pipe.ask("What did Speaker 2 say about the library?")
    total = time.perf_counter() - started
    kept = next((out / "recordings").glob("*.json"))
    import json

    data = json.loads(kept.read_text())
    return {
        "build_seconds": round(built, 1),
        "upload_to_first_answer_seconds": round(total, 1),
        "x_real_time_with_speakers": data.get("speed_x_real_time"),
        "speakers": len({s["speaker"] for s in data["segments"]}),
        "chunks": report.chunks,
        "answerable": answer.answerable,
        "peak_rss_mb": round(self_peak_mb()),
    }


def long_decode(hours: float, folder: Path) -> dict[str, Any]:
    """Decoding a `hours`-long recording piece by piece (as a build does): its peak memory stays that of
    one piece. The file (a tone every other second, 16 kHz 16-bit mono) is written a minute at a time."""
    import wave

    import numpy as np

    from bench.common import run_timed

    path = folder / "long.wav"
    minute = (0.1 * np.sin(np.arange(60 * 16_000) * 0.07) * (np.arange(60 * 16_000) // 16_000 % 2)).astype(np.float32)
    pcm = (minute * 32767).astype("<i2").tobytes()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16_000)
        for _ in range(int(hours * 60)):
            w.writeframes(pcm)
    code = "from pathlib import Path; import sys; from rag.audio import pieces; " + (
        "n = sum(len(x) for _, x in pieces(Path(sys.argv[1]))); print(n / 16000)"
    )
    run = run_timed([sys.executable, "-c", code, str(path)])
    size = path.stat().st_size
    path.unlink()
    return {
        "hours": hours,
        "file_mb": round(size / 1e6),
        "decoded_seconds": float(run["stdout"].strip() or 0),
        "decode_wall_seconds": round(run["seconds"], 1),
        "peak_rss_mb": round(run["peak_mb"] or 0),
    }


def main(quick: bool = False) -> dict[str, Any]:
    from rag.transcribe import find_models

    minutes = 2 if quick else 10
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        short, short_ref, short_len = meeting(60, folder)
        models = find_models()
        rows = [speed(name, short, short_ref, short_len) for name in models]
        long, _, long_len = meeting(minutes * 60, folder)
        e2e = {"audio_seconds": round(long_len, 1), **first_answer(long, folder)}
        memory = long_decode(0.25 if quick else 3.0, folder)
    header = ["model", "multilingual", "audio s", "load s", "transcribe s", "x real time", "WER"]
    text = table([[r[k] for k in r] for r in rows], header)
    text += (
        f"\n\nUpload to first answer, {long_len / 60:.0f}-minute recording, 4 voices (tiny.en + speakers + "
        f"MiniLM): {e2e['upload_to_first_answer_seconds']} s (build {e2e['build_seconds']} s, "
        f"{e2e['x_real_time_with_speakers']}x real time with speakers, {e2e['speakers']} speakers found, "
        f"peak RSS {e2e['peak_rss_mb']} MB)\n"
        f"Decoding a {memory['hours']:g}-hour file ({memory['file_mb']} MB) in 10-minute pieces: "
        f"{memory['decode_wall_seconds']} s, peak RSS {memory['peak_rss_mb']} MB\n"
    )
    print(text)
    result = {"machine": machine(), "models": rows, "first_answer": e2e, "long_decode": memory}
    write("audio", result)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "audio.md").write_text(text)
    return result


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true")
    main(quick=p.parse_args().quick)
