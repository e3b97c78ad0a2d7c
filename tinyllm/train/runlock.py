"""One process per run folder: a lock file, and the clean-up of what killed runs left behind.

    with RunLock(out):            # FileExistsError naming the holder's PID if another run holds it
        ...train, save checkpoints...

The lock is ``out/.tinyllm.lock``, held with ``fcntl.flock`` and holding the owner's PID. The
operating system releases a flock when its process dies, however it dies, so a lock file left by a
killed run (a stale lock, its PID dead) is simply taken over; the PID inside is only for the
message. Checkpoints are written through hidden temporary folders and files named
``.NAME.tmp-PID`` (``tinyllm.train.checkpoint``); a run killed mid-save leaves one behind, and
``remove_stale_temporaries`` deletes those once the lock is held (no other process can be writing).
"""

import fcntl
import os
import re
import shutil
from pathlib import Path

LOCK_FILE = ".tinyllm.lock"
_TMP_RE = re.compile(r"^\..+\.tmp-(\d+)$")


class RunLock:
    """An exclusive lock on a run folder (see the module docstring). The folder must exist.

    ``name``: another lock file in that folder, and ``what`` the thing it guards in messages (the
    grid of ``tinyllm prompt grid --out FILE`` is locked with ``.FILE.lock`` beside it)."""

    def __init__(self, folder, name=LOCK_FILE, what=None):
        self.folder = Path(folder)
        self.path = self.folder / name
        self.what = what or str(self.folder)
        self._fd = None

    def acquire(self):
        while True:
            try:       # O_NOFOLLOW: a lock "file" that is a link elsewhere must not be truncated
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
            except (IsADirectoryError, OSError) as e:
                if not (isinstance(e, IsADirectoryError) or os.path.islink(self.path)):
                    raise
                what = "a symbolic link" if os.path.islink(self.path) else "a folder"
                raise FileExistsError(f"--out: {self.path} is {what}, not tinyllm's lock file; refusing "
                                      f"to write through it (remove it if no tinyllm run is there)") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 64).decode("ascii", "replace").strip() or "unknown"
                os.close(fd)
                raise FileExistsError(
                    f"--out: {self.what} is in use by another tinyllm process (PID {holder}); wait for "
                    f"it to finish or stop it (kill {holder}); or choose another --out") from None
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)            # the holder removed the file as we opened it: take the new one
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        os.fsync(fd)
        self._fd = fd
        return self

    def release(self):
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self._fd)      # closing drops the flock
            self._fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def remove_stale_temporaries(folder):
    """Delete ``.NAME.tmp-PID`` files and folders under ``folder`` and ``folder/checkpoints`` that
    belong to other processes (call it with the run's lock held). Returns the names removed."""
    folder = Path(folder)
    removed = []
    for parent in (folder, folder / "checkpoints"):
        if not parent.is_dir():
            continue
        for p in parent.iterdir():
            m = _TMP_RE.match(p.name)
            if m is None or int(m.group(1)) == os.getpid():
                continue
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
            removed.append(str(p.relative_to(folder)))
    return sorted(removed)
