"""The recording player: /media/{doc_id} on a real loopback server, byte ranges, the login, the card's element."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from rag import Citation, Document
from rag.types import Cue
from tests import synth
from tests.conftest import free_port
from ui.player import add_player, player_html


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, dict[str, bool]]]:
    import uvicorn
    from fastapi import FastAPI

    wav = synth.write_wav(tmp_path / "talk.wav", np.zeros(16_000 * 2, np.float32))
    (tmp_path / "notes.txt").write_text("Ann: hello")
    docs = {
        "talk": Document("talk", str(wav), "Speaker 1: hi", format="recording"),
        "notes": Document("notes", str(tmp_path / "notes.txt"), "Ann: hello"),
    }
    login = {"ok": True}
    api = FastAPI()
    add_player(api, documents=lambda: docs, allowed=lambda request: login["ok"])
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(api, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    while not srv.started:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", login
    finally:
        srv.should_exit = True
        thread.join(5)


def test_media_serves_recordings_with_byte_ranges(server: tuple[str, dict[str, bool]]) -> None:
    url, _ = server
    whole = httpx.get(f"{url}/media/talk")
    assert whole.status_code == 200 and whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-type"].startswith("audio/")
    part = httpx.get(f"{url}/media/talk", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == whole.content[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(whole.content)}"


def test_media_is_for_logged_in_users_and_recordings_only(server: tuple[str, dict[str, bool]]) -> None:
    url, login = server
    assert httpx.get(f"{url}/media/notes").status_code == 404  # a transcript is not served
    assert httpx.get(f"{url}/media/nothing").status_code == 404
    login["ok"] = False
    assert httpx.get(f"{url}/media/talk").status_code == 401


def test_player_starts_at_the_cited_time_and_says_when_unsure() -> None:
    doc = Document(
        "m", "m.mp4", "Speaker 1: hi there", format="recording", cues=(Cue(11, 19, "Speaker 1", 12.5, 14.0, True),)
    )
    c = Citation(1, "m#0.1", "m", "m.mp4", "Speaker 1", 11, 19, "hi there", 1.0, 12.5, 14.0)
    out = player_html(c, document=doc)
    assert out.startswith('<video class="cite-player" controls preload="metadata" src="/media/m#t=12.50,14.00">')
    assert "uncertain" in out
    text = Document("t", "t.txt", "Ann: hi")
    assert player_html(Citation(1, "t#0.1", "t", "t.txt", "Ann", 5, 7, "hi", 1.0), document=text) == ""
