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
SHOTS = ROOT / "tests" / "screenshots"  # looked at by a person; copied out of the tree for review
CHECKS = (Path(__file__).parent / "contrast.js").read_text(encoding="utf-8")
INTERACTIVE = {
    "button",
    "textbox",
    "combobox",
    "checkbox",
    "radio",
    "link",
    "listbox",
    "searchbox",
    "slider",
    "spinbutton",
    "tab",
    "menuitem",
    "option",
    "switch",
}


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
    import re

    page.click(f"{dropdown} input")
    page.get_by_role("option", name=re.compile("^" + re.escape(option) + "( |$)")).first.click()
    page.wait_for_function(
        "([sel, want]) => document.querySelector(sel + ' input').value.startsWith(want)", arg=[dropdown, option]
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

    bad = tmp_path / "scan.txt"
    bad.write_bytes(b"%PDF-1.4\x00\x00\x00binary")
    page.click("#add button")  # open the accordion
    page.set_input_files("#upload input[type=file]", [str(DATA / "panel.txt"), str(bad)])  # several at once
    page.wait_for_function(
        "() => document.querySelector('#upload-status').innerText.includes('Added panel.txt')",
        timeout=120_000,
    )
    status = page.inner_text("#upload-status")
    assert "scan.txt: not added." in status and "Looks binary" in status  # a result per file
    assert "2 documents · 5 speakers" in page.inner_text("#corpus")
    _shot(page, "06-uploaded-two-files")
    text, _ = _ask(page, "What did James Okafor say about the tram extension?")
    assert "James Okafor said" in text and "March" in text

    fresh = browser.new_page(viewport={"width": 1280, "height": 800})  # a reload shows the corpus now in use
    fresh.goto(server)
    fresh.wait_for_function("() => (document.querySelector('#corpus')?.innerText || '').includes('2 documents')")
    fresh.click("#documents button")
    fresh.wait_for_selector("#documents-table :text('panel')")
    assert "James Okafor" in fresh.inner_text("#documents-table")
    fresh.close()

    # the speaker list follows the document and says where each speaker speaks
    _choose(page, "#document", "panel")
    page.click("#speaker input")
    options = page.get_by_role("option").all_inner_texts()
    assert any("James Okafor" in o and "panel" in o for o in options) and not any("Dannenberg" in o for o in options)
    _shot(page, "07-speakers-of-a-document")
    page.keyboard.press("Escape")
    _choose(page, "#document", "All documents")

    page.click("#export")
    page.wait_for_selector("#download a", timeout=10_000)
    _shot(page, "08-export")

    page.click("#documents button")  # delete the upload again
    _choose(page, "#doomed", "panel")
    page.click("#delete")
    page.wait_for_selector("#delete-confirm", state="visible")  # asks first
    assert "Delete panel from disk and from the index?" in page.inner_text("#delete-confirm")
    _shot(page, "08a-delete-confirm")
    page.click("#delete-no")
    page.wait_for_selector("#delete-confirm", state="hidden")
    assert "2 documents" in page.inner_text("#corpus")  # Cancel kept it
    page.click("#delete")
    page.click("#delete-yes")
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


# --- issue 28: themes, contrast, names, keyboard, phone, conversations ---


def _unnamed(page: Any) -> list[str]:
    """Controls without an accessible name, as Chromium computes it (the accessibility tree)."""
    cdp = page.context.new_cdp_session(page)
    nodes = cdp.send("Accessibility.getFullAXTree")["nodes"]
    cdp.detach()
    bad = []
    for n in nodes:
        role = n.get("role", {}).get("value", "")
        if n.get("ignored") or role not in INTERACTIVE:
            continue
        name = (n.get("name", {}) or {}).get("value", "").strip()
        if not name or name.lower() in {role, "textbox", "button", "dropdown"}:
            bad.append(f"{role} {name!r} (backend node {n.get('backendDOMNodeId')})")
    return bad


def _name_of(page: Any, selector: str) -> str:
    return str(
        page.evaluate(
            """sel => { const el = document.querySelector(sel);
              return el.getAttribute('aria-label') || (el.labels && el.labels[0] ? el.labels[0].innerText : ''); }""",
            selector,
        )
    )


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_every_text_is_readable_and_every_control_named(server: str, browser: Any, scheme: str, size: str) -> None:
    viewport = {"width": 1366, "height": 900} if size == "desktop" else {"width": 390, "height": 844}
    context = browser.new_context(viewport=viewport, color_scheme=scheme, device_scale_factor=1)
    page = context.new_page()
    page.goto(server)
    page.wait_for_selector("#question textarea", state="visible")
    if size == "phone":  # the question box and both pickers are on the first screen
        for control in ("#question textarea", "#document input", "#speaker input"):
            where = page.locator(control).bounding_box()
            assert where is not None and where["y"] + where["height"] <= 844, (control, where)
    if scheme == "dark":
        assert page.evaluate("() => document.body.classList.contains('dark') || !!document.querySelector('.dark')")
    _ask(page, "What did Dannenberg and McLaughlin say about NATO?")
    _ask(page, "What did Zelensky say in the interview?")  # a refusal, in its own colours
    _ask(page, "What did Dannenberg say about Helsinki?")
    page.locator("#chat a.cite").last.click()  # a source card open, its quote highlighted
    page.wait_for_function("() => [...document.querySelectorAll('#chat details.source-card')].some(d => d.open)")
    page.click("#documents button")
    page.wait_for_function("() => (document.querySelector('#documents-table')?.innerText || '').includes('cipher')")
    page.click("#add button")
    page.wait_for_timeout(300)
    result = page.evaluate(CHECKS)
    _shot(page, f"11-{size}-{scheme}")
    assert result["checked"] > 60, result["checked"]
    assert result["failures"] == [], result["failures"][:12]
    assert _unnamed(page) == []
    assert _name_of(page, "#question textarea") == "Question"
    mark = page.locator("#chat details[open] mark").last
    colors = mark.evaluate("m => [getComputedStyle(m).color, getComputedStyle(m).backgroundColor]")
    assert colors == ["rgb(31, 41, 55)", "rgb(253, 230, 138)"]  # dark text on yellow in both themes
    if size == "phone":
        # nothing overflows sideways; the chat leaves room below it; word breaks: by eye in 11-phone-*.png
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
        chat_box = page.locator("#chat").bounding_box()
        assert chat_box is not None and chat_box["height"] <= 0.5 * 844 + 2
    context.close()


def test_keyboard_focus_ring_tab_to_sources_and_dropdowns_close(server: str, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.goto(server)
    page.wait_for_selector("#question textarea", state="visible")
    page.focus("#question textarea")
    ring = page.evaluate(
        "() => { const s = getComputedStyle(document.activeElement); return [s.outlineStyle, s.outlineWidth]; }"
    )
    assert ring[0] != "none" and float(ring[1].rstrip("px")) >= 2, ring
    page.keyboard.type("What did Dannenberg say about Helsinki?")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelector('#chat .bot-row .answer a.cite')", timeout=90_000)
    page.focus("#question textarea")
    page.keyboard.press("Tab")  # one stop from the question box to [1]
    focused = page.evaluate("() => [document.activeElement.className, document.activeElement.innerText]")
    assert focused == ["cite", "[1]"], focused
    ring = page.evaluate("() => getComputedStyle(document.activeElement).outlineWidth")
    assert float(ring.rstrip("px")) >= 2
    _shot(page, "12-keyboard-focus")
    page.keyboard.press("Enter")  # opens its card
    page.wait_for_function("() => document.getElementById('cite-0-1').open")
    # a dropdown opened from the keyboard closes when Tab leaves it
    page.focus("#document input")
    page.keyboard.press("ArrowDown")
    page.get_by_role("option").first.wait_for()
    page.keyboard.press("Tab")  # on to the speaker picker (which opens on focus, as Gradio's do)
    page.wait_for_function("() => document.activeElement === document.querySelector('#speaker input')")
    # the list closes on blur, in Gradio's next render: wait for it (up to 5 s), then check
    page.wait_for_function(
        "() => document.querySelector('#document input').getAttribute('aria-expanded') === 'false'", timeout=5_000
    )
    assert page.get_attribute("#document input", "aria-expanded") == "false"
    page.keyboard.press("Tab")  # and on again: no list is left open over the page
    page.wait_for_timeout(300)
    assert page.get_attribute("#speaker input", "aria-expanded") == "false"
    assert page.get_by_role("option").count() == 0
    _shot(page, "13-dropdown-closed")
    context.close()


def test_a_long_answer_opens_at_its_start(server: str, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.goto(server)
    page.wait_for_selector("#question textarea", state="visible")
    for q in ("What did Dannenberg say about Helsinki?", "What did McLaughlin say about Putin?"):
        _ask(page, q)
    _ask(page, "What did Dannenberg and McLaughlin say about NATO?")
    page.wait_for_timeout(500)
    tops = page.evaluate(
        """() => { const rows = document.querySelectorAll('#chat .bot-row'); const last = rows[rows.length - 1];
        let box = last.parentElement;
        const scrolls = (e) => e.scrollHeight > e.clientHeight + 2 &&
          /(auto|scroll)/.test(getComputedStyle(e).overflowY);
        while (box && !scrolls(box)) box = box.parentElement;
        const b = box.getBoundingClientRect(), r = last.getBoundingClientRect();
        return [r.top - b.top, r.bottom - b.bottom, box.scrollTop]; }"""
    )
    assert 0 <= tops[0] < 200 and tops[2] > 0, tops  # its first line is in view, near the top of the chat
    answer = page.locator("#chat .bot-row").last
    assert answer.locator("ul.quotes li").count() >= 3  # several quotes: a list grouped by speaker
    said = answer.locator("p.said").all_inner_texts()
    assert said == ["Dannenberg said:", "McLaughlin said:"], said
    _shot(page, "14-long-answer-start")
    context.close()


def _restartable(root: Path, real_index: Path, port: int, **kwargs: Any) -> Any:
    from ui.app import Chat, launch

    chat = Chat(Pipeline.load(real_index), index=real_index, sources=[], uploads=root / "uploads", read_only=True)
    return launch(chat, host="127.0.0.1", port=port, quiet=True, **kwargs)


def test_conversations_are_kept_per_browser_and_survive_a_restart(
    real_index: Path, browser: Any, tmp_path: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    app = _restartable(tmp_path, real_index, port)
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    try:
        page = context.new_page()
        page.goto(base)
        page.wait_for_selector("#question textarea", state="visible")
        _ask(page, "What did Dannenberg say about Helsinki?")
        page.wait_for_function("() => document.querySelectorAll('#past label').length === 1", timeout=30_000)
        _ask(page, "Why was that a mistake?")
        page.click("#clear")
        page.wait_for_function("() => document.querySelectorAll('#chat .bot-row').length === 0")
        _ask(page, "What did McLaughlin say about NATO allies?")
        page.wait_for_function("() => document.querySelectorAll('#past label').length === 2", timeout=30_000)
        # rename the current one
        page.fill("#title-box textarea, #title-box input", "NATO, McLaughlin")
        page.click("#rename")
        page.wait_for_function("() => document.querySelector('#past').innerText.includes('NATO, McLaughlin')")
        _shot(page, "15-conversations")
        app.close()
        app = _restartable(tmp_path, real_index, port)  # the same folders, a new process state
        page.goto(base)
        page.wait_for_function("() => document.querySelectorAll('#past label').length === 2", timeout=30_000)
        page.locator("#past label", has_text="What did Dannenberg say about Helsinki").click()
        page.wait_for_function(
            "() => document.querySelectorAll('#chat .bot-row').length === 2 && "
            "document.querySelector('#chat').innerText.includes('should not be repeated')"
        )
        _shot(page, "16-reopened-after-restart")
        _ask(page, "What else did he say?")  # the reopened conversation goes on and is saved again
        # delete asks first; Cancel keeps it, Yes removes it
        page.click("#forget")
        page.wait_for_selector("#forget-confirm", state="visible")
        assert "cannot be undone" in page.inner_text("#forget-confirm")
        _shot(page, "17-delete-conversation-confirm")
        page.click("#forget-no")
        page.wait_for_selector("#forget-confirm", state="hidden")
        assert page.locator("#past label").count() == 2
        page.click("#forget")
        page.click("#forget-yes")
        page.wait_for_function("() => document.querySelectorAll('#past label').length === 1")
        assert page.locator("#chat .bot-row").count() == 0
        other = browser.new_context()  # another browser sees none of them
        op = other.new_page()
        op.goto(base)
        op.wait_for_selector("#question textarea", state="visible")
        op.wait_for_timeout(1000)
        assert op.locator("#past label").count() == 0
        other.close()
    finally:
        context.close()
        app.close()


def test_one_login_never_sees_anothers_conversations(real_index: Path, browser: Any, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    app = _restartable(tmp_path, real_index, port, auth=[("ann", "ann-pass"), ("bob", "bob-pass")])
    try:
        for user, question in (("ann", "What did Dannenberg say about Helsinki?"), ("bob", None)):
            context = browser.new_context(viewport={"width": 1366, "height": 900})
            page = context.new_page()
            page.goto(base)
            page.get_by_label("User name", exact=True).fill(user)
            if user == "ann":
                assert page.title() == "Ask the transcripts"
                _shot(page, "18-login")
            page.get_by_label("Password").fill(f"{user}-pass")
            page.keyboard.press("Enter")
            page.wait_for_selector("#question textarea", state="visible")
            page.wait_for_function("u => document.querySelector('#who').innerText.includes(u)", arg=user)
            assert "Log out" in page.inner_text("#who")
            if question:
                _ask(page, question)
                page.wait_for_function("() => document.querySelectorAll('#past label').length === 1")
                _shot(page, "19-signed-in")
            else:
                page.wait_for_timeout(1000)
                assert page.locator("#past label").count() == 0
            context.close()
    finally:
        app.close()


def test_pronoun_clash_asks_back_and_a_recording_upload_shows_its_pace(
    real_index: Path, browser: Any, tmp_path: Path
) -> None:
    """Issue 28 item 2 (picker on one speaker, "he" for the other: a question back) and issue 29
    (a recording uploaded in the page: audio length, elapsed, time left, x real time; added once)."""
    from tests import synth
    from tests.test_recordings import TWO
    from ui.app import Chat, launch

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    shutil.copy(SEED, seeds)
    index = tmp_path / "index"
    shutil.copytree(real_index, index)
    chat = Chat(Pipeline.load(index), index=index, sources=[seeds], uploads=tmp_path / "uploads")
    port = free_port()
    app = launch(chat, host="127.0.0.1", port=port, quiet=True)
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    try:
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_selector("#question textarea", state="visible")
        _ask(page, "What did Dannenberg say about Helsinki?")
        _choose(page, "#speaker", "McLaughlin")
        text, _ = _ask(page, "What did he say about NATO?")
        assert "Who do you mean by 'he'? The earlier question was about Dannenberg" in text
        assert "the speaker chosen is McLaughlin" in text and "Nothing searched: who is meant is not clear." in text
        assert "The question names" not in text and "McLaughlin said" not in text
        assert "Not in the transcripts" not in text  # a question back, not a claim that nothing is there
        _shot(page, "18-pronoun-clash-asks-back")
        _choose(page, "#speaker", "Dannenberg")
        text, _ = _ask(page, "What else did he say?")
        assert "From the earlier question: not what the last answer quoted." in text and "Dannenberg said" in text
        _shot(page, "19-what-else-status-line")

        if not synth.has_espeak():
            pytest.skip("the recording half needs Debian's espeak-ng (make test installs it)")
        pytest.importorskip("faster_whisper", reason='needs the audio extra: pip install -e ".[audio]"')
        samples, _ = synth.meeting(TWO)
        wav = synth.write_wav(tmp_path / "parks.wav", samples)
        page.click("#add button")
        page.set_input_files("#upload input[type=file]", [str(wav)])
        page.wait_for_function(
            "() => /transcribing: 00:00:00 of 00:00:\\d\\d audio, \\d+ s elapsed/.test(document.body.innerText)",
            timeout=120_000,
            polling=100,
        )
        page.locator("#add").scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / "20-recording-upload-progress.png"))  # the viewport, as it is seen
        page.wait_for_function(
            "() => (document.querySelector('#upload-status')?.innerText || '').includes('Added parks.wav')",
            timeout=300_000,
        )
        assert "2 documents" in page.inner_text("#corpus")
        _shot(page, "21-recording-added")
        text, _ = _ask(page, "What did Speaker 2 say about the swings?")
        assert "Speaker 2 said" in text
    finally:
        page.close()
        app.close()
