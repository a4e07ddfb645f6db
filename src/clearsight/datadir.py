"""The data directory: private to its owner, served by one server at a time, checked before use.

- :func:`secure` makes the directory 0700 and every file in it 0600 (the database and its
  -wal/-shm, index snapshots, keys, lock files all hold faces or secrets). New files are created
  0600 where they are made; this also tightens a directory created by an older version.
- :func:`lock_for_serving` takes an exclusive ``flock`` on ``<data_dir>/server.lock``. The kernel
  drops it when the process ends, however it ends (kill -9 included), so there is no stale lock
  to clean up. A second ``clearsight serve`` on the same directory is refused, naming the pid.
- :func:`check_database` runs ``PRAGMA quick_check`` and turns a damaged or truncated database
  into a :class:`StorageError` that says how to recover.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from .errors import StorageError
from .storage.backends import is_postgres, sqlite_path
from .storage.sqlite.database import quick_check

LOCK_NAME = "server.lock"

_held: dict[str, int] = {}  # data directory -> its lock's file descriptor, held for the life of the process


class DataDirectoryInUse(StorageError):
    """Another server is serving this data directory."""


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (one we may not signal counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def secure(data_dir: Path) -> None:
    """Create ``data_dir`` 0700 if needed; make it and everything in it private to its owner."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    uid = os.getuid()
    for root, dirs, files in os.walk(data_dir):
        for name, mode in [(d, 0o700) for d in dirs] + [(f, 0o600) for f in files]:
            path = os.path.join(root, name)
            try:
                st = os.lstat(path)
                if st.st_uid == uid and not os.path.islink(path) and st.st_mode & 0o777 != mode:
                    os.chmod(path, mode)
            except FileNotFoundError:  # a snapshot's temporary file renamed meanwhile
                continue
    if os.stat(data_dir).st_mode & 0o777 != 0o700:
        os.chmod(data_dir, 0o700)


def lock_for_serving(data_dir: Path) -> None:
    """Hold ``<data_dir>/server.lock`` until this process exits, or raise DataDirectoryInUse."""
    path = data_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise DataDirectoryInUse(
            f"another ClearSight server (pid {holder}) is serving {data_dir}; two servers on one data "
            "directory would keep separate indexes. Stop it first, or start this one with another "
            "--data-dir") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    _held[str(data_dir.resolve())] = fd


def check_database(data_dir: Path, storage_url: str = "") -> None:
    """``PRAGMA quick_check`` on the SQLite database ``storage_url`` names (``<data_dir>/clearsight.db``
    by default), if it exists; StorageError if damaged. A PostgreSQL server checks its own pages."""
    if is_postgres(storage_url):
        return
    path = sqlite_path(storage_url, data_dir)
    if path.exists():
        quick_check(path)


def open_for_serving(data_dir: Path, *, integrity_check: bool = True, storage_url: str = "") -> None:
    """Everything ``clearsight serve`` needs before it touches the data directory."""
    secure(data_dir)
    lock_for_serving(data_dir)
    if integrity_check:
        check_database(data_dir, storage_url)


def other_server_running(data_dir: Path) -> bool:
    """Whether another process holds this directory's server lock (this process's own does not count)."""
    path = data_dir / LOCK_NAME
    if str(data_dir.resolve()) in _held or not path.exists():
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops a lock taken here
    return False
