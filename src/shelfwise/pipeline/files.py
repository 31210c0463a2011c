"""Small files (state, caches, version pointers) written so a reader sees a whole one or none,
and whether the process that left something behind still runs."""

from __future__ import annotations

import os
from pathlib import Path


def replace_file(path: Path, text: str, *, durable: bool = False) -> None:
    """Write `text` beside `path` and rename it over `path` (atomic on POSIX). `durable`
    flushes it to disk first, for a file whose loss after a crash would lose a commit."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with temporary.open("w") as handle:
        handle.write(text)
        if durable:
            handle.flush()
            os.fsync(handle.fileno())
    temporary.replace(path)


def process_alive(pid: int) -> bool:
    """Whether process `pid` runs (on this machine)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it runs, as another user
        return True
    return True
