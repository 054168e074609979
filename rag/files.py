"""The index directory on disk: one writer at a time, checked files, swaps a reader never sees half-done.

A build writes a complete new directory next to the index (`.index.tmp-*`), lists every file in
the manifest with its size and sha256, then swaps it in with two renames. Readers check the sizes
on every load (cheap) and re-read when the manifest's generation changed under them; `rag check`
verifies the checksums. A lock file beside the index (`.index.lock`, holding the writer's pid)
keeps a second build out. Leftovers of a killed build are cleaned by the next one, and if it died
between the two renames the previous index is put back. This module knows files, not chunks.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rag.errors import IndexBusyError, IndexCorruptError, IndexWriteError

CHUNK = 1 << 20


def file_list(root: Path) -> dict[str, dict[str, Any]]:
    """{relative path: {"size", "sha256"}} for every file under `root` but the manifest."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name != "manifest.json":
            out[p.relative_to(root).as_posix()] = {"size": p.stat().st_size, "sha256": sha256(p)}
    return out


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def check_sizes(root: Path, files: dict[str, Any]) -> None:
    """Every listed file exists with its recorded size.

    Raises:
        IndexCorruptError: naming the first file that is missing, emptied or truncated.
    """
    fix = f"run: rag build --index {root}"
    for name, meta in files.items():
        try:
            size = (root / name).stat().st_size
        except OSError:
            raise IndexCorruptError(f"{root}/{name} is missing; {fix}") from None
        if size != meta.get("size"):
            raise IndexCorruptError(f"{root}/{name} is {size:,} bytes, the build wrote {meta.get('size'):,}; {fix}")


def check_checksums(root: Path, files: dict[str, Any]) -> list[str]:
    """One line per file whose content differs from what the build wrote."""
    problems = []
    for name, meta in files.items():
        path = root / name
        if not path.exists():
            problems.append(f"{root}/{name} is missing")
        elif sha256(path) != meta.get("sha256"):
            problems.append(f"{root}/{name} has changed since the build (checksum differs)")
    return problems


@contextmanager
def writer_lock(out: Path) -> Iterator[None]:
    """Hold the index's writer lock for the duration, or fail at once naming the writer.

    Raises:
        IndexBusyError: another build holds the lock.
        IndexWriteError: the folder cannot be written (read-only, full, not a real folder).
    """
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; one writer is the user's job there
        yield
        return
    lock = out.parent / f".{out.name}.lock"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        f = lock.open("a+")
    except OSError as err:
        raise cannot_write(out.parent, err) from err
    with f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            pid = f.read().strip() or "?"
            raise IndexBusyError(f"another build (pid {pid}) is writing {out}/; try again when it ends") from None
        try:  # unbuffered: a byte a full disk refused must not be written again when the file closes
            os.ftruncate(f.fileno(), 0)
            os.write(f.fileno(), str(os.getpid()).encode())
        except OSError as err:  # a full disk takes no byte, not even the pid
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
            raise cannot_write(out.parent, err) from err
        try:
            yield
        finally:
            os.ftruncate(f.fileno(), 0)
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def cannot_write(folder: Path, err: OSError) -> IndexWriteError:
    """One line for a folder that takes no index, naming the fix for the cause."""
    return IndexWriteError(f"cannot write in {folder}/ ({err.strerror or err}); {_fix(err)}")


def _fix(err: OSError) -> str:
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return "free some space or choose another --index"
    if err.errno == errno.EROFS:
        return "the file system is read-only; choose another --index"
    return "choose another --index"


def recover(out: Path) -> None:
    """Clean what a killed build left beside `out` (call while holding the writer lock).

    A build killed between its two renames leaves the previous index only as `.out.old-*`: it
    is put back. Temporary directories of unfinished builds are removed.
    """
    if not out.parent.is_dir():
        return
    olds = sorted(out.parent.glob(f".{out.name}.old-*"), key=lambda p: p.stat().st_mtime)
    if olds and not out.exists():
        os.replace(olds.pop(), out)
    for leftover in [*olds, *out.parent.glob(f".{out.name}.tmp-*")]:
        shutil.rmtree(leftover, ignore_errors=True)


def is_swapping(out: Path) -> bool:
    """A build is writing or swapping `out` right now (its temporary folders exist)."""
    return any(out.parent.glob(f".{out.name}.old-*")) or any(out.parent.glob(f".{out.name}.tmp-*"))


def check_writable(out: Path, need: int) -> None:
    """Fail before any slow work when `out`'s folder cannot take a new index of about `need` bytes.

    Raises:
        IndexWriteError: no permission, a read-only file system, or too little free space.
    """
    parent = out.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=parent, prefix=f".{out.name}.probe-"):
            pass
    except OSError as err:
        raise cannot_write(parent, err) from err
    free = shutil.disk_usage(parent).free
    if free < need:
        raise IndexWriteError(
            f"{parent}/ has {free / 1e6:,.0f} MB free, the index needs about {need / 1e6:,.0f} MB; "
            "free some space or choose another --index"
        )


def replace_dir(new: Path, out: Path, *, carry: Sequence[str] = ()) -> None:
    """Swap `new` in for `out`; the old directory survives until the new one is in place.

    `carry`: names inside `out` that move into the new directory as they are (a database that
    lives in the index directory and is updated in place, such as Milvus Lite's).
    """
    if not out.exists():
        os.replace(new, out)
        return
    moved = [name for name in carry if (out / name).exists() and not (new / name).exists()]
    for name in moved:
        os.replace(out / name, new / name)
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    os.rmdir(old)
    try:
        os.replace(out, old)
        try:
            os.replace(new, out)
        except BaseException:
            os.replace(old, out)
            raise
    except BaseException:
        for name in moved:
            os.replace(new / name, out / name)
        raise
    shutil.rmtree(old, ignore_errors=True)


def wait_for_swap(out: Path, attempt: int) -> bool:
    """Whether a reader that failed should try again: a build is mid-swap (waits ~50 ms, up to ~2 s).

    When no build holds the lock, the swap was abandoned (a killed build): the reader puts the
    previous index back itself instead of failing.
    """
    if attempt >= 40 or not is_swapping(out):
        return False
    try:
        with writer_lock(out):
            recover(out)
        return True
    except IndexBusyError:
        time.sleep(0.05)
        return True
    except IndexWriteError:  # a read-only copy of an index: nothing to put back from here
        return False


def stamp(path: Path) -> tuple[int, ...] | None:
    """What tells one version of a file from the next without reading it (None when it is absent).

    A swap puts a new manifest.json in place: another inode, change time and size.
    """
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_ctime_ns, st.st_mtime_ns, st.st_size)


def link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_error(out: Path, err: OSError) -> IndexWriteError:
    """A one-line error for a failed write; the previous index is untouched by then."""
    what = err.strerror or str(err)
    return IndexWriteError(
        f"could not write the index to {out}/ ({what}); the previous index is unchanged; {_fix(err)}"
    )
