"""End to end in a real browser: Debian's chromium driven by Playwright (never `playwright install`).

Starts the chat on a free loopback port over a private copy of the seed index, asks, opens a
citation, follows up, uploads a good and a bad transcript, and saves screenshots (path printed).
Also drives the same server from gradio_client, as another program would.
"""

from __future__ import annotations

import shutil
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rag import Pipeline
from tests.conftest import DATA, ROOT, SEED, free_port

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SHOTS = ROOT / "tests" / "screenshots"


@pytest.fixture(scope="module")
def server(real_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from ui.app import Chat, launch

    root = tmp_path_factory.mktemp("ui")
    seeds = root / "seeds"
    seeds.mkdir()
    shutil.copy(SEED, seeds)
    index = root / "index"
    shutil.copytree(real_index, index)
    chat = Chat(Pipeline.load(index), index=index, sources=[seeds], uploads=root / "uploads")
    port = free_port()
    app = launch(chat, host="127.0.0.1", port=port, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        app.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: apt-get install -y chromium (make test does it)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


def _ask(page: Any, question: str) -> tuple[str, float]:
    answers = page.locator("#chat .bot-row")
    before = answers.count()
    started = time.perf_counter()
    page.fill("#question textarea", question)
    page.click("#ask")
    page.wait_for_function(
        "n => { const rows = document.querySelectorAll('#chat .bot-row');"
        " return rows.length > n && rows[rows.length - 1].querySelector('.answer, .refusal'); }",
        arg=before,
        timeout=90_000,  # generous: a loaded 2-core machine is slow, and this is not a speed test
    )
    seconds = time.perf_counter() - started
    return answers.last.inner_text(), seconds


def _choose(page: Any, dropdown: str, option: str) -> None:
    """Pick `option` in a Gradio dropdown the way a person does: open it, click the option."""
    page.click(f"{dropdown} input")
    page.get_by_role("option", name=option, exact=True).first.click()
    page.wait_for_function(
        "([sel, want]) => document.querySelector(sel + ' input').value === want", arg=[dropdown, option]
    )


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_chat_in_a_real_browser(server: str, browser: Any, tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    ready = []
    for _ in range(3):
        started = time.perf_counter()
        page.goto(server)
        page.wait_for_selector("#question textarea", state="visible")
        ready.append(time.perf_counter() - started)
    assert "1 document · 2 speakers (Dannenberg, McLaughlin)" in page.inner_text("#corpus")
    _shot(page, "01-ready")

    text, first = _ask(page, "What did Dannenberg say about Helsinki?")
    assert "Searched Dannenberg's answers (6 passages) in " in text
    assert "Dannenberg said:" in text and "Helsinki in 2018" in text
    _shot(page, "02-answer")

    page.locator("#chat a.cite").first.click()
    card = page.locator("#cite-0-1")
    page.wait_for_function("() => document.getElementById('cite-0-1').open")
    assert card.locator("mark").inner_text().startswith("Putin will be well prepared for this meeting")
    assert card.locator("summary .who").inner_text() == "Dannenberg"
    _shot(page, "03-source-open")

    text, _ = _ask(page, "Why was that a mistake?")
    assert "This was a mistake and should not be repeated." in text
    _shot(page, "04-follow-up")
    for follow_up in ("What else did he say?", "Tell me more."):  # by pronoun, and by nothing at all
        text, _ = _ask(page, follow_up)
        assert "Dannenberg said" in text and "McLaughlin said" not in text and "Not in the transcripts" not in text

    times = [first]
    for q in [
        "What did Medvedev write?",
        "What did McLaughlin say about NATO allies?",
        "How long did the call last?",
    ]:
        text, seconds = _ask(page, q)
        times.append(seconds)
    text, _ = _ask(page, "What did Zelensky say in the interview?")
    assert "Not in the transcripts." in text and "Speakers: Dannenberg, McLaughlin." in text
    _shot(page, "05-refusal")

    page.click("#add button")  # open the accordion
    page.set_input_files("#upload input[type=file]", str(DATA / "panel.txt"))
    page.wait_for_function(
        "() => document.querySelector('#upload-status').innerText.includes('Added panel.txt')",
        timeout=120_000,
    )
    assert "2 documents · 5 speakers" in page.inner_text("#corpus")
    text, _ = _ask(page, "What did James Okafor say about the tram extension?")
    assert "James Okafor said" in text and "March" in text
    _shot(page, "06-uploaded")

    fresh = browser.new_page(viewport={"width": 1280, "height": 800})  # a reload shows the corpus now in use
    fresh.goto(server)
    fresh.wait_for_function("() => (document.querySelector('#corpus')?.innerText || '').includes('2 documents')")
    fresh.click("#documents button")
    fresh.wait_for_selector("#documents-table :text('panel')")
    assert "James Okafor" in fresh.inner_text("#documents-table")
    fresh.close()

    bad = tmp_path / "scan.txt"
    bad.write_bytes(b"%PDF-1.4\x00\x00\x00binary")
    page.locator("#upload button[aria-label='Clear']").first.click()
    page.set_input_files("#upload input[type=file]", str(bad))
    page.wait_for_function(
        "() => document.querySelector('#upload-status').innerText.includes('scan.txt: not added')",
        timeout=60_000,
    )
    assert "looks binary" in page.inner_text("#upload-status")
    assert "2 documents · 5 speakers" in page.inner_text("#corpus")
    _shot(page, "07-bad-upload")

    page.click("#export")
    page.wait_for_selector("#download a", timeout=10_000)
    _shot(page, "08-export")

    page.click("#documents button")  # delete the upload again
    _choose(page, "#doomed", "panel")
    page.click("#delete")
    page.wait_for_function(
        "() => (document.querySelector('#delete-status')?.innerText || '').includes('Deleted panel')",
        timeout=120_000,
    )
    assert "1 document · 2 speakers" in page.inner_text("#corpus")
    _shot(page, "08b-deleted")

    _choose(page, "#speaker", "Dannenberg")
    text, _ = _ask(page, "What did McLaughlin say about NATO?")
    assert "The question names McLaughlin, so the picker's Dannenberg was not used." in text
    assert "McLaughlin said" in text
    _shot(page, "08c-picker")

    phone = browser.new_page(viewport={"width": 390, "height": 844})
    phone.goto(server)
    phone.wait_for_selector("#question textarea", state="visible")
    _ask(phone, "What did Dannenberg say about Helsinki?")
    phone.locator("#chat a.cite").first.click()
    _shot(phone, "09-phone")
    print(
        f"\nscreenshots in {SHOTS}\npage ready: median {statistics.median(ready):.2f} s over {len(ready)} loads; "
        f"question to answer: median {statistics.median(times):.2f} s over {len(times)} questions"
    )


def test_gradio_client_api(server: str) -> None:
    from gradio_client import Client

    client = Client(server, verbose=False)
    d = client.predict("What did Dannenberg say about Helsinki?", "", [], api_name="/ask")
    assert d["answerable"] is True and d["speaker"] == "Dannenberg"
    assert "Helsinki in 2018" in d["citations"][0]["quote"]
    follow = client.predict("Why was that a mistake?", "", ["What did Dannenberg say about Helsinki?"], api_name="/ask")
    assert "should not be repeated" in follow["answer"]


EVIL = [
    "<a href=//evil.example/login>Sign in again</a>",
    "<form action=//evil.example><input name=pw></form>",
    "<h1>HACKED</h1>",
    "<img src=//evil.example/p.png>",
]


@pytest.fixture(scope="module")
def evil_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A chat over a meeting whose speaker names and words are HTML (fake embedder, real page)."""
    import json

    from rag import build_index
    from tests.conftest import FakeEmbedder
    from ui.app import Chat, launch

    root = tmp_path_factory.mktemp("evil")
    turns = [
        {"speaker": name, "content": f"The budget {word} was approved <img src=//evil.example/q{i}.png> today."}
        for i, (name, word) in enumerate(zip(EVIL, ["line", "plan", "vote", "cut"], strict=True))
    ]
    (root / "meeting.json").write_text(json.dumps(turns))
    fake = FakeEmbedder()
    build_index([root / "meeting.json"], root / "index", embedder=fake)
    chat = Chat(
        Pipeline.load(root / "index", embedder=fake),
        index=root / "index",
        sources=[root / "meeting.json"],
        uploads=root / "uploads",
        embedder=fake,
    )
    port = free_port()
    app = launch(chat, host="127.0.0.1", port=port, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        app.close()


def test_nothing_from_a_document_becomes_markup_or_a_request(evil_server: str, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if "evil.example" in r.url else None)
    response = page.goto(evil_server)
    assert "default-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_selector("#question textarea", state="visible")
    text, _ = _ask(page, "What was said about the budget vote?")
    page.locator("#chat a.cite").first.click()
    page.click("#documents button")
    page.click("#speaker input")  # the picker lists the names
    page.get_by_role("option").first.wait_for()
    _shot(page, "10-html-in-names")
    for selector in ("a[href*='evil']", "form[action*='evil']", "input[name=pw]", "img[src*='evil']"):
        assert page.locator(selector).count() == 0, selector
    assert page.locator("h1:has-text('HACKED')").count() == 0
    assert "<h1>HACKED</h1>" in page.inner_text("body")  # shown as the text it is
    assert outside == []
    context.close()


def test_copy_gives_plain_text_with_sources(server: str, browser: Any) -> None:
    context = browser.new_context()
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.rstrip("/"))
    page = context.new_page()
    page.goto(server)
    page.bring_to_front()
    page.wait_for_selector("#question textarea", state="visible")
    _ask(page, "What did Dannenberg say about Helsinki?")
    page.locator("#chat button.copy-plain").last.click()
    page.wait_for_function("() => document.querySelector('#chat button.copy-plain').innerText === 'Copied'")
    copied = page.evaluate("() => navigator.clipboard.readText()")
    assert copied.startswith("Dannenberg said: “") and "<" not in copied
    assert "\n\n[1] Dannenberg, " in copied and "Helsinki in 2018" in copied
    context.close()


def test_auth_locks_the_chat_and_closes_the_api(real_index: Path, tmp_path: Path) -> None:
    import httpx

    from ui.app import Chat, launch

    chat = Chat(Pipeline.load(real_index), index=real_index, sources=[], uploads=tmp_path / "u", read_only=True)
    port = free_port()
    app = launch(chat, host="127.0.0.1", port=port, quiet=True, auth=("ann", "s3cret"))
    base = f"http://127.0.0.1:{port}"
    try:
        assert httpx.get(f"{base}/config").status_code == 401
        assert httpx.get(f"{base}/v1/health").status_code == 404  # no token given: the API is off
        assert httpx.post(f"{base}/login", data={"username": "ann", "password": "nope"}).status_code == 400
        with httpx.Client(base_url=base) as client:
            assert client.post("/login", data={"username": "ann", "password": "s3cret"}).status_code == 200
            assert client.get("/config").status_code == 200
    finally:
        app.close()
