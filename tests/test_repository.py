"""The clone stands alone: no tracked file points into one machine's home, work or temp folders."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests.conftest import QMSUM, ROOT

# An absolute path into a home, work, temp or mount folder of some machine (POSIX or Windows).
MACHINE_PATH = re.compile(
    r"""(?:^|[\s"'`(=:,\[])/(?:home|work|tmp|root|Users|mnt|opt/work|var/folders|private/var)/[\w.~-]"""
    r"""|\b[A-Za-z]:\\(?:Users|Documents and Settings)\\"""
)


def _tracked_files() -> list[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: no list of tracked files")
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    return [name for name in out.stdout.decode().split("\0") if name]


def test_no_tracked_file_holds_an_absolute_machine_path() -> None:
    offenders = []
    for name in _tracked_files():
        path = ROOT / name
        if not path.is_file():
            continue
        data = path.read_bytes()
        if b"\0" in data[:8192]:
            continue  # binary (images)
        for lineno, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
            if MACHINE_PATH.search(line):
                offenders.append(f"{name}:{lineno}: {line.strip()[:120]}")
    assert not offenders, "absolute machine paths in tracked files:\n" + "\n".join(offenders)


def test_the_pattern_catches_what_it_should() -> None:
    slash, back = "/", "\\"  # built here, so this file does not hold the paths it tests
    bad_paths = [f'x = Path("{slash}work/shared/data")', f"see {slash}home/ann/notes.txt", f"C:{back}Users{back}ann"]
    for bad in [*bad_paths, f"cd {slash}tmp/abc"]:
        assert MACHINE_PATH.search(bad), bad
    for fine in ["eval/data/qmsum/val", "https://example.org/home/page", "a/tmp/b", "'/v1/ask'"]:
        assert not MACHINE_PATH.search(fine), fine


def test_the_qmsum_meetings_are_in_the_clone() -> None:
    assert QMSUM.is_dir() and len(list(QMSUM.glob("*.json"))) == 35
    assert (QMSUM.parent / "LICENSE").read_text().startswith("MIT License")
