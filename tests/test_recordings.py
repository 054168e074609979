"""Recordings become speaker-attributed transcripts: synthetic espeak-ng meetings with known scripts.

The fast tests need no model (formats, kept JSON, renames, windows, channel detection, bad files
through PyAV). The `slow` ones transcribe and diarize meetings of 2-4 clearly different voices, a
stereo one-person-per-channel file and an MP4, and check word error rate, diarization error and
that who-said-what answers quote the right voice at the right time (about 2 minutes on 2 cores).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rag import Pipeline, SourceError, build_index
from rag.diarize import windows
from rag.formats import read
from rag.recordings import Recorder, flag_uncertain, propose_names, rename, transcribe_recording
from rag.turns import is_uncertain
from tests import synth
from tests.conftest import FakeEmbedder

TWO = [
    ("A", "Hi, I'm Dana from the parks team, and I will start with the playground."),
    ("B", "Thank you Dana. The playground needs new swings before the summer."),
    ("A", "We can order the swings this month if the council agrees."),
    ("B", "The council agreed last week, so please go ahead with the order."),
    ("A", "Good, then the work can start in May."),
]
THREE = [
    ("A", "Good morning everyone, thanks for coming to the planning meeting."),
    ("C", "Thank you. I want to start with the library opening hours."),
    ("D", "I agree that the hours matter. Many parents have asked for evening hours."),
    ("A", "Then we should look at the staff schedule before we decide anything."),
    ("C", "The library closes too early for people who work during the day."),
    ("D", "The staff schedule can change in the spring, when the new people start."),
    ("A", "Let us move on to the question of the bus routes."),
]
FOUR = [
    ("A", "Welcome to the transport meeting. We have four things to talk about today."),
    ("B", "The first thing is the new bike lane on the main street."),
    ("C", "People who live on the main street are worried about parking."),
    ("D", "The shop owners also need a place for their trucks."),
    ("A", "Could the trucks come early in the morning instead?"),
    ("B", "That would work for most of the shops. I talked to the owners."),
    ("C", "Then the people who live there can keep their parking at night."),
    ("D", "I will write to the shop owners before the next meeting."),
]


def _doc(segments: list[dict], source: str = "m.wav"):  # type: ignore[no-untyped-def]
    from rag.recordings import load_recording  # noqa: F401  (the reader of kept transcripts)

    name, parsed = read(json.dumps({"segments": segments}), source, ".wav")
    return name, parsed


# --- fast: no model ---------------------------------------------------------------------------


def test_kept_transcript_reads_as_recording_with_uncertain_cues() -> None:
    segs = [
        {"start": 0.5, "end": 2.0, "text": "Hello there.", "speaker": "Speaker 1", "uncertain": ""},
        {"start": 2.2, "end": 2.5, "text": "Yes.", "speaker": "Speaker 2", "uncertain": "short"},
    ]
    name, parsed = _doc(segs)
    assert name == "recording"
    assert parsed.text == "Speaker 1: Hello there.\nSpeaker 2: Yes."
    assert [c.uncertain for c in parsed.cues] == [False, True]
    assert [parsed.text[c.start : c.end] for c in parsed.cues] == ["Hello there.", "Yes."]


def test_windows_split_at_pauses_and_long_runs() -> None:
    times = [(0.0, 0.4), (0.5, 0.9), (2.0, 2.4)]
    got = windows(times)
    assert [(w.first, w.last) for w in got] == [(0, 1), (2, 2)]
    run = [(i * 0.5, i * 0.5 + 0.45) for i in range(40)]  # 20 s without a pause
    cut = windows(run)
    assert len(cut) == 4 and all(2.5 <= w.end - w.start <= 7.5 for w in cut)
    assert [i for w in cut for i in range(w.first, w.last + 1)] == list(range(40))
    opened = windows(run[:6], opens=[i == 3 for i in range(6)])  # a sentence opens at word 3
    assert [(w.first, w.last) for w in opened] == [(0, 2), (3, 5)]


def test_names_a_recording_gives_are_proposed_only() -> None:
    segs = [
        {"start": 0, "end": 2, "text": "Hi, I'm Dana from the parks team.", "speaker": "Speaker 1", "uncertain": ""},
        {"start": 3, "end": 4, "text": "This is Omar.", "speaker": "Speaker 2", "uncertain": "short"},
    ]
    got = propose_names(segs)
    assert [(p["speaker"], p["name"]) for p in got] == [("Speaker 1", "Dana")]  # the uncertain one proposes nothing
    assert "I'm Dana" in got[0]["said"]


def test_rename_and_merge_edit_the_kept_transcript(tmp_path: Path) -> None:
    folder = tmp_path / "recordings"
    folder.mkdir()
    data = {
        "audio_sha256": "x",
        "proposed_names": [{"speaker": "Speaker 1", "name": "Dana", "said": "I'm Dana", "start": 0}],
        "segments": [
            {"start": 0, "end": 1, "text": "a", "speaker": "Speaker 1", "uncertain": ""},
            {"start": 1, "end": 2, "text": "b", "speaker": "Speaker 2", "uncertain": ""},
            {"start": 2, "end": 3, "text": "c", "speaker": "Speaker 3", "uncertain": ""},
        ],
    }
    (folder / "m.json").write_text(json.dumps(data))
    assert rename(folder, "m", "Speaker 1", "Dana") == 1
    assert rename(folder, "m", "Speaker 3", "Speaker 2") == 1  # merge: two clusters that are one person
    after = json.loads((folder / "m.json").read_text())
    assert [s["speaker"] for s in after["segments"]] == ["Dana", "Speaker 2", "Speaker 2"]
    assert after["proposed_names"] == []  # the proposal was taken
    with pytest.raises(SourceError, match=r"no speaker 'Bob' in m; its speakers: Dana, Speaker 2"):
        rename(folder, "m", "Bob", "Robert")
    with pytest.raises(SourceError, match=r"no recording 'n' in .*; recordings: m"):
        rename(folder, "n", "Dana", "D")


def test_pace_line_gives_audio_length_elapsed_time_left_and_speed() -> None:
    from rag.transcribe import Pace, pace_line

    assert pace_line(150, 600, 30) == "00:02:30 of 00:10:00 audio, 30 s elapsed, about 1 m 30 s left, 5.0x real time"
    assert pace_line(0, 600, 0) == "00:00:00 of 00:10:00 audio, 0 s elapsed, time left not known yet, 0.0x real time"
    pace = Pace()
    assert pace(0, 60).startswith("00:00:00 of 00:01:00 audio, 0 s elapsed")
    assert pace(0, 90).startswith("00:00:00 of 00:01:30 audio")  # done 0: the next recording's clock


def test_the_clock_reports_at_most_once_a_second_unless_forced() -> None:
    from rag.transcribe import Clock

    calls: list[tuple[str, int, int]] = []
    clock = Clock("m.wav", 60.0, lambda stage, done, total: calls.append((stage, done, total)))
    clock.advance(5.0)  # within the first second: kept, not reported
    clock.advance(9.0, force=True)  # the end of a piece: reported
    assert calls == [("transcribe", 0, 60), ("transcribe", 9, 60)] and clock.done == 9.0


def test_channels_differ_tells_one_person_per_channel_from_plain_stereo() -> None:
    from rag.audio import channels_differ

    rng = np.random.default_rng(0)
    t = np.arange(16_000 * 8)
    voice = (0.3 * np.sin(t * 0.05) * (rng.random(len(t)) > 0.0)).astype(np.float32)
    left = voice * ((t // 16_000) % 2 == 0)
    right = voice * ((t // 16_000) % 2 == 1)
    assert channels_differ(np.stack([left, right]))
    assert not channels_differ(np.stack([voice, voice * 0.8]))


@pytest.fixture
def av() -> object:
    return pytest.importorskip("av", reason='recordings need the audio extra: pip install -e ".[audio]"')


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("empty.wav", b"", r"empty\.wav: the file is empty \(0 bytes\)"),
        ("junk.mp3", b"\x13\x37not audio at all" * 500, r"junk\.mp3: not a readable audio or video file"),
        ("notes.mp4", b"just some text, named like a video\n" * 50, r"notes\.mp4: not a readable audio or video file"),
    ],
)
def test_bad_recordings_fail_with_one_line(tmp_path: Path, av: object, name: str, data: bytes, message: str) -> None:
    from rag.audio import pieces

    p = tmp_path / name
    p.write_bytes(data)
    with pytest.raises(SourceError, match=message) as err:
        list(pieces(p))
    assert "\n" not in str(err.value)


def test_truncated_wav_is_read_up_to_the_damage_or_refused(tmp_path: Path, av: object) -> None:
    from rag.audio import pieces

    p = synth.write_wav(tmp_path / "cut.wav", np.zeros(16_000 * 4, np.float32))
    p.write_bytes(p.read_bytes()[:30])  # the header, cut inside
    with pytest.raises(SourceError) as err:
        list(pieces(p))
    assert str(err.value).startswith(f"{p}:") and "\n" not in str(err.value)


def test_pieces_bound_memory(tmp_path: Path, av: object) -> None:
    from rag.audio import pieces

    p = synth.write_wav(tmp_path / "long.wav", np.zeros(16_000 * 25, np.float32))
    sizes = [len(s) for _, s in pieces(p, seconds=10)]
    assert sizes == [160_000, 160_000, 80_000]


# --- slow: the real models --------------------------------------------------------------------


def audio(test):  # type: ignore[no-untyped-def]
    """Slow (the real models) and needing Debian's espeak-ng to make the meetings."""
    no_espeak = pytest.mark.skipif(not synth.has_espeak(), reason="needs Debian's espeak-ng (make test installs it)")
    return pytest.mark.slow(no_espeak(test))


@pytest.fixture(scope="module")
def meetings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, list[synth.Line]]]:
    pytest.importorskip("faster_whisper", reason='needs the audio extra: pip install -e ".[audio]"')
    d = tmp_path_factory.mktemp("meetings")
    out = {}
    for name, script in (("two", TWO), ("three", THREE), ("four", FOUR)):
        x, lines = synth.meeting(script)
        out[name] = (synth.write_wav(d / f"{name}.wav", x), lines)
    return out


@pytest.fixture(scope="module")
def transcripts(meetings: dict[str, tuple[Path, list[synth.Line]]]) -> dict[str, dict]:
    return {k: transcribe_recording(p, source=p.name, recorder=Recorder()) for k, (p, _) in meetings.items()}


def _confident_misattributed(segments: list[dict], lines: list[synth.Line], mapping: dict[str, str]) -> int:
    """Confident segments whose middle falls in a line of another voice."""
    bad = 0
    for s in segments:
        if s["uncertain"]:
            continue
        mid = (s["start"] + s["end"]) / 2
        truth = next((x.who for x in lines if x.start - 0.3 <= mid <= x.end + 0.3), None)
        bad += truth is not None and mapping.get(s["speaker"]) != truth
    return bad


@audio
@pytest.mark.parametrize("name", ["two", "three", "four"])
def test_meeting_word_and_speaker_errors(name: str, meetings: dict, transcripts: dict) -> None:  # type: ignore[type-arg]
    path, lines = meetings[name]
    data = transcripts[name]
    script = {"two": TWO, "three": THREE, "four": FOUR}[name]
    wer = synth.wer(" ".join(t for _, t in script), " ".join(s["text"] for s in data["segments"]))
    der, mapping = synth.der(lines, data["segments"])
    speakers = {s["speaker"] for s in data["segments"] if not s["uncertain"]}
    print(f"{name}: WER {wer:.3f} DER {der:.3f} speakers {sorted(speakers)} x{data['speed_x_real_time']}")
    assert wer <= 0.10
    assert der <= 0.10
    assert len(speakers) == len({w for w, _ in script})
    assert _confident_misattributed(data["segments"], lines, mapping) == 0
    assert all(s["speaker"].startswith("Speaker ") for s in data["segments"])


@audio
def test_who_said_what_quotes_the_right_voice_at_the_right_time(
    meetings: dict,
    transcripts: dict,
    tmp_path: Path,  # type: ignore[type-arg]
) -> None:
    path, lines = meetings["three"]
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "planning.wav").write_bytes(path.read_bytes())
    out = tmp_path / "index"
    kept = out / "recordings" / "planning.json"
    kept.parent.mkdir(parents=True)
    kept.write_text(json.dumps({**transcripts["three"], "audio_sha256": _sha(path)}))  # transcribed once above
    build_index([corpus], out, embedder=FakeEmbedder())
    pipe = Pipeline.load(out, embedder=FakeEmbedder())
    _, mapping = synth.der(lines, transcripts["three"]["segments"])
    speaker_of = {v: k for k, v in mapping.items()}
    doc = pipe.documents["planning"]
    for who, topic, words in [("C", "the library", "library"), ("D", "the staff schedule", "spring")]:
        name = speaker_of[who]
        answer = flag_uncertain(pipe.ask(f"What did {name} say about {topic}?"), pipe.documents)
        assert answer.answerable, answer.reason
        assert answer.citations
        for c in answer.citations:
            assert c.quote == doc.text[c.start : c.end]
            assert c.speaker == name
            assert c.time_start is not None and c.time_end is not None
            # the line said in the citation's time (Whisper's times are good to about half a second)
            overlap = {x: min(x.end, c.time_end) - max(x.start, c.time_start) for x in lines}
            said = max(overlap, key=lambda x: overlap[x])
            assert said.who == who and overlap[said] >= 0.6 * (c.time_end - c.time_start), (c, said)
            assert c.uncertain == is_uncertain(doc, c.start, c.end)
        assert any(words in c.quote.lower() for c in answer.citations)
    assert answer.to_dict()["citations"][0]["uncertain"] is False


def _sha(path: Path) -> str:
    from rag.recordings import audio_sha256

    return audio_sha256(path)


@audio
def test_rename_rebuilds_without_transcribing_and_names_are_only_proposed(
    meetings: dict,
    transcripts: dict,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[type-arg]
) -> None:
    import rag.recordings

    path, _ = meetings["two"]
    out = tmp_path / "index"
    kept = out / "recordings" / "two.json"
    kept.parent.mkdir(parents=True)
    kept.write_text(json.dumps({**transcripts["two"], "audio_sha256": _sha(path)}))
    build_index([path], out, embedder=FakeEmbedder())
    pipe = Pipeline.load(out, embedder=FakeEmbedder())
    assert {p.name for p in pipe.people if p.kind == "speaker"} == {"Speaker 1", "Speaker 2"}  # not applied
    proposed = rag.recordings.proposals(out / "recordings")
    assert [(p["speaker"], p["name"]) for p in proposed] == [("Speaker 1", "Dana")]

    def no_transcribing(*args: object, **kwargs: object) -> None:
        raise AssertionError("transcribed again")

    monkeypatch.setattr(rag.recordings, "transcribe_recording", no_transcribing)
    rename(out / "recordings", "two", "Speaker 1", "Dana")
    report = build_index(None, out, embedder=FakeEmbedder())
    assert report.changed == ("two",)
    pipe = Pipeline.load(out, embedder=FakeEmbedder())
    assert {p.name for p in pipe.people if p.kind == "speaker"} == {"Dana", "Speaker 2"}
    answer = pipe.ask("What did Dana say about the swings?")
    assert answer.citations and all(c.speaker == "Dana" for c in answer.citations)
    assert build_index(None, out, embedder=FakeEmbedder()).is_noop  # kept while nothing changed


@audio
def test_stereo_one_person_per_channel_and_mp4(tmp_path: Path) -> None:
    pytest.importorskip("faster_whisper")
    x, lines = synth.meeting(TWO[:4])
    left, right = np.zeros_like(x), np.zeros_like(x)
    for line in lines:
        a, b = int(line.start * synth.RATE), int(line.end * synth.RATE)
        (left if line.who == "A" else right)[a:b] = x[a:b]
    stereo = transcribe_recording(
        synth.write_wav(tmp_path / "call.wav", np.stack([left, right])), source="call.wav", recorder=Recorder()
    )
    assert stereo["speakers_from"] == "channels"
    der, mapping = synth.der(lines, stereo["segments"])
    assert der <= 0.05 and mapping == {"Speaker 1": "A", "Speaker 2": "B"}
    assert not any(s["uncertain"] for s in stereo["segments"])  # the channel says who, exactly
    video = transcribe_recording(synth.write_mp4(tmp_path / "talk.mp4", x), source="talk.mp4", recorder=Recorder())
    wer = synth.wer(" ".join(t for _, t in TWO[:4]), " ".join(s["text"] for s in video["segments"]))
    der, _ = synth.der(lines, video["segments"])
    print(f"stereo DER {synth.der(lines, stereo['segments'])[0]:.3f}; mp4 WER {wer:.3f} DER {der:.3f}")
    assert wer <= 0.10 and der <= 0.10


@audio
def test_tracks_folder_takes_the_speaker_from_the_file(tmp_path: Path) -> None:
    pytest.importorskip("faster_whisper")
    x, lines = synth.meeting(TWO[:3])
    tracks = tmp_path / "standup.tracks"
    tracks.mkdir()
    for who, name in (("A", "Dana"), ("B", "Omar")):
        y = np.zeros_like(x)
        for line in lines:
            if line.who == who:
                a, b = int(line.start * synth.RATE), int(line.end * synth.RATE)
                y[a:b] = x[a:b]
        synth.write_wav(tracks / f"{name}.wav", y)
    out = tmp_path / "index"
    build_index([tmp_path], out, embedder=FakeEmbedder())
    pipe = Pipeline.load(out, embedder=FakeEmbedder())
    doc = pipe.documents["standup"]
    assert doc.format == "recording"
    who = [(c.speaker, c.time_start) for c in doc.cues]
    assert [w for w, _ in who] == ["Dana", "Omar", "Dana"]


@audio
def test_bad_and_foreign_recordings_fail_alone(meetings: dict, tmp_path: Path) -> None:  # type: ignore[type-arg]
    import subprocess

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    good, _ = meetings["two"]
    (corpus / "good.wav").write_bytes(good.read_bytes())
    out = tmp_path / "index"
    cases = {
        "silent.wav": lambda p: synth.write_wav(p, np.zeros(16_000 * 5, np.float32)),
        "empty.m4a": lambda p: p.write_bytes(b""),
        "german.wav": lambda p: subprocess.run(
            [
                "espeak-ng",
                "-v",
                "de",
                "-w",
                str(p),
                "Guten Morgen zusammen. Der Haushalt fuer die Parkverwaltung "
                "wird im naechsten Jahr steigen. Wir muessen ueber die Bibliothek sprechen.",
            ],
            check=True,
        ),
    }
    expected = {
        "silent.wav": "no speech found",
        "empty.m4a": "the file is empty (0 bytes)",
        "german.wav": "reads English only",  # alone: "does not sound like English"; with base: "sounds like 'de'"
    }
    for name, make in cases.items():
        bad = corpus / name
        make(bad)
        with pytest.raises(SourceError) as err:
            build_index([corpus], out, embedder=FakeEmbedder())
        assert expected[name] in str(err.value) and "\n" not in str(err.value), str(err.value)
        bad.unlink()
    assert (out / "recordings" / "good.json").is_file()  # the good one's transcript was kept, not lost

    report = build_index([corpus], out, embedder=FakeEmbedder())
    assert report.added == ("good",)


@audio
def test_progress_comes_as_each_segment_is_decoded(meetings: dict) -> None:  # type: ignore[type-arg]
    from rag import audio as rag_audio
    from rag import transcribe

    path, lines = meetings["three"]
    model = transcribe.load_model(transcribe.model_path(transcribe.DEFAULT_MODEL))
    (offset, samples), *_ = rag_audio.pieces(path)  # one piece: the whole meeting
    heard: list[float] = []
    transcribe.transcribe_piece(model, samples, offset, heard=heard.append)
    assert len(heard) >= 3 and heard == sorted(heard)  # inside the piece, not only at its end
    assert heard[-1] <= len(samples) / rag_audio.RATE + 0.5


@audio
def test_piece_boundaries_lose_no_words(meetings: dict, transcripts: dict) -> None:  # type: ignore[type-arg]
    path, _ = meetings["three"]
    small = transcribe_recording(path, source=path.name, recorder=Recorder(piece_seconds=20.0))  # 2 pieces
    assert synth.wer(" ".join(t for _, t in THREE), " ".join(s["text"] for s in small["segments"])) <= 0.10


def test_speakers_rename_usage_errors_are_one_line(tmp_path: Path) -> None:
    from tests.test_cli import one_line_error, rag

    folder = tmp_path / "index" / "recordings"
    folder.mkdir(parents=True)
    segs = [{"start": 0, "end": 1, "text": "hi", "speaker": "Speaker 1", "uncertain": ""}]
    (folder / "m.json").write_text(json.dumps({"audio_sha256": "x", "segments": segs}))
    index = str(tmp_path / "index")
    err = one_line_error(rag("speakers", "rename", "Speaker 1", "--doc", "m", "--index", index))
    assert "usage: rag speakers rename OLD NEW --doc DOC" in err
    err = one_line_error(rag("speakers", "merge", "Speaker 1", "Speaker 9", "--doc", "m", "--index", index))
    assert "no speaker 'Speaker 9' in m to merge into; its speakers: Speaker 1" in err


@audio
def test_cli_rename_prints_times_and_uncertainty(meetings: dict, transcripts: dict, tmp_path: Path) -> None:  # type: ignore[type-arg]
    from tests.test_cli import rag

    path, _ = meetings["two"]
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "two.wav").write_bytes(path.read_bytes())
    kept = tmp_path / "index" / "recordings" / "two.json"
    kept.parent.mkdir(parents=True)
    kept.write_text(json.dumps({**transcripts["two"], "audio_sha256": _sha(path)}))
    index = str(tmp_path / "index")
    assert rag("build", str(corpus), "--index", index).returncode == 0
    listed = rag("speakers", "--index", index)
    assert 'Speaker 1 in two may be Dana: "' in listed.stdout, listed.stdout
    inspected = rag("inspect", str(corpus / "two.wav"), "--json")  # transcribes it (nothing kept), proposes
    proposed = json.loads(inspected.stdout)[0]["proposed_names"]
    assert [(p["speaker"], p["name"]) for p in proposed] == [("Speaker 1", "Dana")]
    renamed = rag("speakers", "rename", "Speaker 1", "Dana", "--doc", "two", "--index", index)
    assert renamed.returncode == 0, renamed.stderr
    assert "renamed Speaker 1 -> Dana in two" in renamed.stdout and "transcribing" not in renamed.stderr
    answer = rag("ask", "What did Dana say about the swings?", "--index", index, "--json")
    cites = json.loads(answer.stdout)["citations"]
    assert cites and all(c["speaker"] == "Dana" and c["time_start"] is not None for c in cites)
    assert all(c["uncertain"] is False for c in cites)


@audio
def test_overlapping_voices_are_marked_uncertain_never_confidently_named() -> None:
    pytest.importorskip("faster_whisper")
    import tempfile

    a, b = synth.speak(TWO[2][1], "A"), synth.speak(TWO[3][1], "B")
    x0, _ = synth.meeting(TWO[:2])
    over = int(1.5 * synth.RATE)  # B starts 1.5 s before A ends
    mix = np.zeros(len(a) + len(b) - over, np.float32)
    mix[: len(a)] += a
    mix[len(a) - over :] += b
    start = len(x0) / synth.RATE + len(a) / synth.RATE - 1.5
    with tempfile.TemporaryDirectory() as d:
        path = synth.write_wav(Path(d) / "overlap.wav", np.concatenate([x0, mix, np.zeros(8000, np.float32)]))
        data = transcribe_recording(path, source=path.name, recorder=Recorder())
    talked_over = [
        w for s in data["segments"] for w in s["words"] if start <= (w["start"] + w["end"]) / 2 <= start + 1.5
    ]
    assert talked_over
    confident = {id(w) for s in data["segments"] if not s["uncertain"] for w in s["words"]}
    assert not [w["word"] for w in talked_over if id(w) in confident]
    assert not data["segments"][0]["uncertain"]  # the clean opening stays confident
