"""Small files (state, caches, version pointers) written so a reader sees a whole one or none,
and whether the process that left something behind still runs."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
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


def process_alive(pid: int, since: datetime | None = None) -> bool:
    """Whether process `pid` runs (on this machine) and, given `since`, started by then: a
    process that later received the id of one that ended is not taken for it. The start is
    known on Linux (from /proc); elsewhere the id alone decides."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it runs, as another user
        pass
    if since is None:
        return True
    started = process_started(pid)
    if since.tzinfo is None:  # (naive times here are UTC)
        since = since.replace(tzinfo=UTC)
    # (/proc gives the boot time in whole seconds: allow for its rounding)
    return started is None or started <= since + timedelta(seconds=2)


def process_started(pid: int) -> datetime | None:
    """When process `pid` started, from Linux's /proc; None where that cannot be read."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = next(
            line
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, StopIteration):
        return None
    # the command name (field 2) may hold spaces and parentheses: fields follow its last ")"
    ticks = int(stat[stat.rindex(")") + 2 :].split()[19])
    seconds = int(boot.split()[1]) + ticks / os.sysconf("SC_CLK_TCK")
    return datetime.fromtimestamp(seconds, UTC)
