"""Recordings as transcripts: transcribe and diarize once, keep the result as WhisperX-shaped JSON.

The transcript of `index/` 's recording DOC lives in `index/recordings/DOC.json`:

    {"audio_sha256", "model", "language", "duration", "speakers_from": "voices" | "channels" | "tracks",
     "proposed_names": [{"speaker", "name", "said", "start"}],
     "segments": [{"start", "end", "text", "speaker", "uncertain": "" | reason,
                   "words": [{"word", "start", "end", "score"}]}]}

It is reused while the recording's bytes are unchanged, may be edited by hand (or by `rename` and
`merge`), and is re-read by every build, then goes through the Whisper JSON reader like any other
transcript. Speakers are `Speaker 1 ... n` until named; names the recording itself gives ("I'm
Dana") are only proposed. One-person-per-channel stereo files and `NAME.tracks/` folders (one file
per speaker) take the speaker from the channel or the file, exactly.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from rag import audio, diarize, files, transcribe
from rag.diarize import OVERLAP
from rag.errors import SourceError
from rag.turns import is_uncertain
from rag.types import Answer, Document

log = logging.getLogger(__name__)

FOLDER = "recordings"  # inside the index directory
TRACKS = ".tracks"  # a folder NAME.tracks/ holds one recording, one file per speaker
VERSION = 1
NAME_CUE = re.compile(
    r"\b(?:I'm|I am|my name is|this is|it's)\s+((?:Dr\.?\s|Ms\.?\s|Mr\.?\s|Mrs\.?\s)?[A-Z][a-z]+(?:\s[A-Z][a-z]+)?)"
)


@dataclass(frozen=True, slots=True)
class Recorder:
    """How recordings become transcripts: where they are kept, which model, progress, piece length.

    `folder` None: transcripts are made but not kept (`rag inspect` of a file outside an index).
    """

    folder: Path | None = None
    model: str | None = None  # None: the kept transcript's model, tiny.en for a new one
    models: Path = Path("models")
    progress: transcribe.Progress | None = None
    piece_seconds: float = 600.0  # audio decoded and transcribed at a time: bounded memory


def is_recording(path: Path) -> bool:
    suffix = path.suffix.lower()
    return suffix in audio.SUFFIXES or (suffix == TRACKS and path.is_dir())


def load_recording(path: Path, *, doc_id: str, source: str, recorder: Recorder) -> Document:
    """The Document of a recording, from its kept transcript or by transcribing it now.

    Raises:
        SourceError: damaged, empty, silent, unsupported or not English (for an English-only model).
    """
    from rag import formats

    text = transcript_text(path, doc_id=doc_id, source=source, recorder=recorder)
    name, parsed = formats.read(text, source, ".tracks" if path.is_dir() else path.suffix)
    sha = hashlib.sha256((audio_sha256(path) + hashlib.sha256(text.encode()).hexdigest()).encode()).hexdigest()
    return Document(doc_id=doc_id, source=source, text=parsed.text, format=name, sha256=sha, cues=parsed.cues)


def transcript_file(folder: Path, doc_id: str) -> Path:
    return folder / f"{doc_id}.json"


def transcript_text(path: Path, *, doc_id: str, source: str, recorder: Recorder) -> str:
    """The transcript JSON of a recording: the kept one while the audio is unchanged, else a new one."""
    sha = audio_sha256(path)
    kept = transcript_file(recorder.folder, doc_id) if recorder.folder is not None else None
    if kept is not None and kept.is_file():
        text = kept.read_text(encoding="utf-8")
        try:
            data = json.loads(text)
            if data.get("audio_sha256") == sha and recorder.model in (None, data.get("model")):
                return text
        except (ValueError, AttributeError) as err:
            raise SourceError(
                f"{kept}: not valid JSON ({err}); fix the edit, or delete it to transcribe again"
            ) from err
    data = transcribe_recording(path, source=source, recorder=recorder)
    data["audio_sha256"] = sha
    text = json.dumps(data, ensure_ascii=False, indent=1) + "\n"
    if kept is not None:
        write_atomic(kept, text)
    return text


def audio_sha256(path: Path) -> str:
    if path.is_dir():
        parts = [f"{p.name}:{files.sha256(p)}" for p in _tracks(path)]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()
    return files.sha256(path)


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


# --- transcribing ------------------------------------------------------------------------------


@dataclass
class _Heard:
    """Words of one stream with their voice windows (mutable while a stream is read)."""

    words: list[transcribe.Word]
    windows: list[diarize.Window]
    vectors: list[np.ndarray]
    fine: list[tuple[float, float]]  # short overlapping spans that check each window from inside
    fine_vectors: list[np.ndarray]
    after_pause: list[bool]  # per window: the audio is silent just before it


def transcribe_recording(path: Path, *, source: str, recorder: Recorder) -> dict[str, Any]:
    """Transcribe and attribute one recording (a file, or a NAME.tracks/ folder) into transcript JSON."""
    name = recorder.model or transcribe.DEFAULT_MODEL
    model_dir = transcribe.model_path(name, recorder.models)
    model = transcribe.load_model(model_dir)
    if path.is_dir():
        tracks = _tracks(path)
        if not tracks:
            raise SourceError(f"{source}: a .tracks folder with no audio files; put one file per speaker in it")
        total = sum(audio.probe(t).duration for t in tracks)
        clock = transcribe.Clock(source, total, recorder.progress)
        done = 0.0
        labelled: list[tuple[transcribe.Word, str, str]] = []
        for t in tracks:
            heard = _hear(audio.pieces(t, seconds=recorder.piece_seconds), model, clock, voices=False, base=done)
            done = clock.done
            labelled += [(w, t.stem, "") for w in heard.words]
        how = "tracks"
        duration = max((w.end for w, _, _ in labelled), default=0.0)
    else:
        info = audio.probe(path)
        clock = transcribe.Clock(source, info.duration, recorder.progress)
        split = info.channels == 2 and _one_per_channel(path)
        if split:
            clock.total = 2 * info.duration
            labelled = []
            for ch in (0, 1):
                stream = ((o, s[ch]) for o, s in audio.pieces(path, seconds=recorder.piece_seconds, split=True))
                heard = _hear(stream, model, clock, voices=False, base=ch * info.duration)
                labelled += [(w, f"Speaker {ch + 1}", "") for w in heard.words]
            how = "channels"
        else:
            heard = _hear(audio.pieces(path, seconds=recorder.piece_seconds), model, clock, voices=True)
            labelled = _attribute(heard)
            how = "voices"
        duration = info.duration or max((w.end for w, _, _ in labelled), default=0.0)
    if not labelled:
        raise SourceError(f"{source}: no speech found (silent, or only noise or music); check the recording")
    if not transcribe.is_multilingual(model):
        _check_language(path, source, name, recorder.models, [w for w, _, _ in labelled])
    labelled.sort(key=lambda x: x[0].start)
    segments = _segments(labelled)
    log.info("%s: transcribed %.0f s of audio at %.1fx real time", source, duration, clock.speed)
    return {
        "rag_recording": VERSION,
        "source": source,
        "model": name,
        "language": "en" if not transcribe.is_multilingual(model) else None,
        "duration": round(duration, 3),
        "speed_x_real_time": round(clock.speed, 2),
        "speakers_from": how,
        "proposed_names": propose_names(segments),
        "segments": segments,
    }


def _hear(
    stream: Iterator[tuple[float, np.ndarray]],
    model: Any,
    clock: transcribe.Clock,
    *,
    voices: bool,
    base: float = 0.0,
) -> _Heard:
    """Words (and, with `voices`, voice windows) of a stream of pieces, a piece at a time.

    The words of a piece's last two seconds are left to the next piece (with their audio), so a
    word cut by a piece boundary is heard whole.
    """
    heard = _Heard([], [], [], [], [], [])
    carry, carry_at = np.zeros(0, np.float32), 0.0
    upcoming = next(stream, None)
    while upcoming is not None:
        offset, samples = upcoming
        upcoming = next(stream, None)
        if carry.size:
            samples, offset = np.concatenate([carry, samples]), carry_at
        end = offset + len(samples) / audio.RATE
        if audio.is_silent(samples):
            words: tuple[transcribe.Word, ...] = ()
        else:
            # progress as each segment is decoded, never backwards (a piece re-reads the last one's tail)
            words = transcribe.transcribe_piece(
                model, samples, offset, heard=lambda t: clock.advance(max(clock.done, base + t))
            ).words
        if upcoming is not None:
            cut = end - 2.0
            words = tuple(w for w in words if w.end <= cut)
            keep_from = max(words[-1].end if words else cut, cut - 28.0)
            carry = samples[int((keep_from - offset) * audio.RATE) :]
            carry_at = keep_from
            done = keep_from
        else:
            carry = np.zeros(0, np.float32)
            done = end
        if voices and words:
            first = len(heard.words)
            times = [(w.start, w.end) for w in words]
            quiet = diarize.breaks(times, diarize.pauses(samples, offset))
            ws = diarize.windows(times, opens=[w.opens or q for w, q in zip(words, quiet, strict=True)])
            heard.after_pause += [
                w.first == 0 or quiet[w.first] or times[w.first][0] - times[w.first - 1][1] > diarize.PAUSE for w in ws
            ]
            heard.vectors.append(diarize.embed(samples, offset, [(w.start, w.end) for w in ws]))
            heard.windows += [diarize.Window(w.first + first, w.last + first, w.start, w.end) for w in ws]
            fine = diarize.fine_spans(ws)
            heard.fine_vectors.append(diarize.embed(samples, offset, fine))
            heard.fine += fine
        heard.words += words
        clock.advance(max(clock.done, base + done), force=True)
    return heard


def _attribute(heard: _Heard) -> list[tuple[transcribe.Word, str, str]]:
    """Each word with its speaker ("Speaker N") and why that may be wrong ("" when confident)."""
    if not heard.words:
        return []
    vectors = np.concatenate(heard.vectors) if heard.vectors else np.zeros((0, 256), np.float32)
    seconds = np.array([w.end - w.start for w in heard.windows], dtype=np.float32)
    centroids = diarize.cluster(vectors, seconds)
    labels = diarize.assign(vectors, seconds, centroids)
    # the speaker number of each cluster (assign numbers them by first appearance)
    raw = np.argmax(vectors @ centroids.T, axis=1) if len(centroids) else np.zeros(len(vectors), int)
    number = {int(r): lab.speaker for r, lab in zip(raw, labels, strict=True) if not lab.uncertain}
    fine = np.array(heard.fine, dtype=np.float64).reshape(-1, 2)
    fine_sims = np.concatenate(heard.fine_vectors) @ centroids.T if heard.fine_vectors and len(centroids) else None
    out: list[tuple[transcribe.Word, str, str]] = []
    for win, lab in zip(heard.windows, labels, strict=True):
        for i in range(win.first, win.last + 1):
            word = heard.words[i]
            speaker, why = lab.speaker, lab.uncertain
            if fine_sims is not None and not why:
                inside = diarize.inside(fine_sims, fine, (word.start + word.end) / 2)
                if inside is not None:
                    best, margin = inside
                    if number.get(best) != speaker:  # another voice inside the window: overlap or a missed change
                        speaker, why = number.get(best, speaker), OVERLAP
                    elif margin < diarize.MIN_MARGIN:
                        why = OVERLAP
            out.append((word, f"Speaker {speaker + 1}", why))
    return _unsure_at_unpaused_changes(out, heard)


def _unsure_at_unpaused_changes(
    out: list[tuple[transcribe.Word, str, str]], heard: _Heard, *, reach: float = 2.0
) -> list[tuple[transcribe.Word, str, str]]:
    """Words within `reach` seconds of a change of speaker with no pause in the audio are uncertain,
    and so are the words within `reach` before a stretch found uncertain for overlap, back to a pause.

    People change without a pause when they talk over each other; there the voice vectors follow the
    louder voice (a synthetic overlap of 1.5 s stayed 0.87 / 0.75 to the first speaker), so who said
    the words either side of such a change is not known.
    """
    marked = list(out)
    for k in range(1, len(heard.windows)):
        a, b = heard.windows[k - 1], heard.windows[k]
        if heard.after_pause[k] or marked[a.last][1] == marked[b.first][1]:
            continue
        at = heard.words[b.first].start
        for i in range(a.first, b.last + 1):
            word, speaker, why = marked[i]
            if not why and at - reach <= word.start <= at + reach:
                marked[i] = (word, speaker, OVERLAP)
    for i in range(1, len(marked)):
        if marked[i][2] == OVERLAP and not marked[i - 1][2]:
            # talking over began before the voices mixed enough to show: the words just before,
            # with no pause between, are not sure either
            at, j = marked[i][0].start, i - 1
            while j >= 0 and not marked[j][2] and at - marked[j][0].start <= reach:
                if marked[j + 1][0].start - marked[j][0].end >= diarize.PAUSE:
                    break
                marked[j] = (marked[j][0], marked[j][1], OVERLAP)
                j -= 1
    return marked


def _one_per_channel(path: Path) -> bool:
    first = next(audio.pieces(path, seconds=120.0, split=True), None)
    return first is not None and audio.channels_differ(first[1])


def _check_language(path: Path, source: str, name: str, models: Path, words: list[transcribe.Word]) -> None:
    """An English-only model's transcript that does not sound like English is refused.

    A multilingual model on this machine (e.g. base) names the language from the first 30 s;
    without one, the words' own confidence decides (`transcribe.check_english`).
    """
    multilingual = [p for n, p in transcribe.find_models(models).items() if not n.endswith(".en")]
    if multilingual and not path.is_dir():
        model = transcribe.load_model(multilingual[0])
        _, first = next(audio.pieces(path, seconds=30.0))
        if transcribe.is_multilingual(model):
            language, probability, _ = model.detect_language(first)
            if language != "en" and probability > 0.5:
                raise SourceError(
                    f"{source}: sounds like {language!r}, not English (p={probability:.2f}); {name} reads "
                    f"English only: rag build --asr-model {multilingual[0].name.removeprefix('whisper-')}"
                )
            return
    transcribe.check_english(words, source, name)


def _segments(labelled: list[tuple[transcribe.Word, str, str]]) -> list[dict[str, Any]]:
    """WhisperX-shaped segments: consecutive words of one speaker and one certainty, split at pauses over 1 s."""
    segments: list[dict[str, Any]] = []
    for word, speaker, why in labelled:
        last = segments[-1] if segments else None
        if (
            last is not None
            and last["speaker"] == speaker
            and last["uncertain"] == why
            and word.start - last["end"] <= 1.0
            and word.end - last["start"] <= 30.0
        ):
            last["words"].append(_word(word))
            last["end"] = round(word.end, 3)
        else:
            segments.append(
                {"start": round(word.start, 3), "end": round(word.end, 3), "speaker": speaker, "uncertain": why}
                | {"words": [_word(word)]}
            )
    for s in segments:
        s["text"] = "".join(w["word"] for w in s["words"]).strip()
    return [{k: s[k] for k in ("start", "end", "text", "speaker", "uncertain", "words")} for s in segments]


def _word(w: transcribe.Word) -> dict[str, Any]:
    return {"word": w.text, "start": round(w.start, 3), "end": round(w.end, 3), "score": round(w.probability, 3)}


def _tracks(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in audio.SUFFIXES)


# --- names -------------------------------------------------------------------------------------


def propose_names(segments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Names a speaker gives themselves ("hi, I'm Dana from the parks team"), as proposals only.

    Only confident stretches propose; a name is proposed once per speaker.
    Example: [{"speaker": "Speaker 1", "text": "Hi, I'm Dana.", ...}] -> [{"speaker": "Speaker 1", "name": "Dana", ...}]
    """
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for s in segments:
        if s.get("uncertain"):
            continue
        for m in NAME_CUE.finditer(s["text"]):
            key = (s["speaker"], m.group(1))
            if key not in seen and m.group(1) != s["speaker"]:
                seen.add(key)
                said = s["text"][max(0, m.start() - 20) : m.end() + 30].strip()
                out.append({"speaker": s["speaker"], "name": m.group(1), "said": said, "start": s["start"]})
    return out


def proposed_in(doc: Document) -> list[dict[str, Any]]:
    """`propose_names` of a recording's Document, from its cues (no kept transcript needed)."""
    segments = [
        {"speaker": c.speaker, "text": doc.text[c.start : c.end], "uncertain": c.uncertain, "start": c.time_start}
        for c in doc.cues
        if c.speaker
    ]
    return propose_names(segments)


def rename(folder: Path, doc_id: str, old: str, new: str) -> int:
    """Give the speaker `old` of recording `doc_id` the name `new` (merging when `new` exists).

    Edits the kept transcript; nothing is transcribed again. Returns the segments changed.

    Raises:
        SourceError: no kept transcript for `doc_id`, or no speaker `old` in it.
    """
    path = transcript_file(folder, doc_id)
    if not path.is_file():
        kept = sorted(p.relative_to(folder).with_suffix("").as_posix() for p in folder.rglob("*.json"))
        raise SourceError(f"no recording {doc_id!r} in {folder}/; recordings: {', '.join(kept) or '(none)'}")
    data = json.loads(path.read_text(encoding="utf-8"))
    names = list(dict.fromkeys(s.get("speaker") for s in data["segments"]))
    if old not in names:
        raise SourceError(f"no speaker {old!r} in {doc_id}; its speakers: {', '.join(str(n) for n in names)}")
    new = " ".join(new.split())
    if not new or ":" in new:
        raise SourceError(f"{new!r} cannot be a speaker name; use letters, spaces, dots")
    changed = 0
    for s in data["segments"]:
        if s.get("speaker") == old:
            s["speaker"] = new
            changed += 1
    data["proposed_names"] = [p for p in data.get("proposed_names", []) if p["speaker"] != old or p["name"] != new]
    for p in data["proposed_names"]:
        if p["speaker"] == old:
            p["speaker"] = new
    write_atomic(path, json.dumps(data, ensure_ascii=False, indent=1) + "\n")
    return changed


def speakers_of(folder: Path, doc_id: str) -> list[str]:
    """The speakers of a kept recording transcript, in order of appearance ([] when there is none)."""
    path = transcript_file(folder, doc_id)
    if not path.is_file():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    return [str(s) for s in dict.fromkeys(x.get("speaker") for x in data.get("segments", [])) if s]


def proposals(folder: Path) -> list[dict[str, Any]]:
    """Every kept recording's proposed names, with its doc_id, for `rag speakers`."""
    out: list[dict[str, Any]] = []
    if not folder.is_dir():
        return out
    for p in sorted(folder.rglob("*.json")):
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except ValueError:
            continue
        doc_id = p.relative_to(folder).with_suffix("").as_posix()
        out += [{"doc_id": doc_id, **x} for x in data.get("proposed_names", [])]
    return out


def flag_uncertain(answer: Answer, documents: Mapping[str, Document]) -> Answer:
    """The answer with `uncertain` set on each citation quoting a stretch whose speaker is not sure."""
    marked = tuple(
        replace(c, uncertain=True) if c.doc_id in documents and is_uncertain(documents[c.doc_id], c.start, c.end) else c
        for c in answer.citations
    )
    return answer if marked == answer.citations else replace(answer, citations=marked)
