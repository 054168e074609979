"""Past conversations, kept on the server as one JSON file each, in a folder per owner.

An owner is a login ("user:ann") or, on an open chat, a browser ("browser:<random id>" kept in
that browser's storage). The owner's folder name is a hash of it, and conversation ids are
checked hex strings, so no name from a request ever becomes a path. Writes are atomic
(a temporary file, then a rename), so a crash never leaves half a conversation. This module does
not know about Gradio or rag; the chat passes it plain data.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_ID = re.compile(r"[0-9a-f]{32}")
TITLE_LENGTH = 60


def new_id() -> str:
    """A fresh conversation id: 32 hex digits."""
    return secrets.token_hex(16)


@dataclass(frozen=True)
class Conversation:
    """One conversation: the messages as the chat shows them and the answers as JSON."""

    conv_id: str
    title: str
    created: float
    updated: float
    messages: list[dict[str, Any]] = field(default_factory=list)
    exchanges: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.conv_id,
            "title": self.title,
            "created": self.created,
            "updated": self.updated,
            "messages": self.messages,
            "exchanges": self.exchanges,
        }


def title_for(question: str) -> str:
    """A conversation's first name: its first question, cut at a word near 60 characters."""
    words = " ".join(question.split())
    if len(words) <= TITLE_LENGTH:
        return words or "Conversation"
    return words[:TITLE_LENGTH].rsplit(" ", 1)[0] + "…"


class Conversations:
    """The conversations under `root`, one folder per owner."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def secret(self) -> str:
        """A random key kept in the folder (made once), for what the browser stores; a restart
        keeps it, so a browser keeps its conversations."""
        path = self.root / "secret"
        if not path.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            _write(path, secrets.token_hex(32))
            os.chmod(path, 0o600)
        return path.read_text(encoding="utf-8").strip()

    def _folder(self, owner: str) -> Path:
        if not owner:
            raise ValueError("a conversation needs an owner (a login or a browser id)")
        return self.root / hashlib.sha256(owner.encode("utf-8")).hexdigest()[:32]

    def _path(self, owner: str, conv_id: str) -> Path:
        if not _ID.fullmatch(conv_id or ""):
            raise ValueError(f"not a conversation id: {conv_id[:40]!r}")
        return self._folder(owner) / f"{conv_id}.json"

    def list(self, owner: str) -> list[Conversation]:
        """The owner's conversations, the latest first."""
        folder = self._folder(owner)
        found = []
        for path in folder.glob("*.json") if folder.exists() else []:
            conv = self._read(path)
            if conv is not None:
                found.append(conv)
        return sorted(found, key=lambda c: c.updated, reverse=True)

    def get(self, owner: str, conv_id: str) -> Conversation | None:
        try:
            path = self._path(owner, conv_id)
        except ValueError:
            return None
        return self._read(path) if path.exists() else None

    def save(
        self, owner: str, conv_id: str, messages: list[dict[str, Any]], exchanges: list[dict[str, Any]]
    ) -> Conversation:
        """Write the conversation (new or grown); its title stays what it was (or was renamed to)."""
        path = self._path(owner, conv_id)
        old = self._read(path) if path.exists() else None
        now = time.time()
        first = next((m.get("content") for m in messages if m.get("role") == "user"), "")
        conv = Conversation(
            conv_id,
            old.title if old else title_for(first if isinstance(first, str) else ""),
            old.created if old else now,
            now,
            messages,
            exchanges,
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        _write(path, json.dumps(conv.to_dict(), ensure_ascii=False))
        return conv

    def rename(self, owner: str, conv_id: str, title: str) -> Conversation | None:
        conv = self.get(owner, conv_id)
        title = " ".join(title.split())[:120]
        if conv is None or not title:
            return None
        renamed = Conversation(conv.conv_id, title, conv.created, conv.updated, conv.messages, conv.exchanges)
        _write(self._path(owner, conv_id), json.dumps(renamed.to_dict(), ensure_ascii=False))
        return renamed

    def delete(self, owner: str, conv_id: str) -> bool:
        try:
            path = self._path(owner, conv_id)
        except ValueError:
            return False
        if not path.exists():
            return False
        path.unlink()
        return True

    @staticmethod
    def _read(path: Path) -> Conversation | None:
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
            return Conversation(
                str(d["id"]), str(d["title"]), float(d["created"]), float(d["updated"]), d["messages"], d["exchanges"]
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None  # unreadable: not listed, never a crash of the page


def _write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
