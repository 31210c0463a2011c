"""The contract every kind of import fulfils, and the state one import run carries."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Generic

from sqlalchemy.orm import Session

from shelfwise.store.importing.problems import Problem
from shelfwise.store.importing.reading import Binding, ColumnSpec, CsvFile, RawRow
from shelfwise.store.importing.rows import Row
from shelfwise.store.importing.storage import Tally

ProgressCallback = Callable[[str, int, int], None]
"""Called with (what is happening, units done, units in total)."""


def no_progress(_stage: str, _done: int, _total: int) -> None:
    return None


@dataclass(frozen=True)
class ImportOptions:
    skip_invalid: bool = False  # load the valid rows, write the rest to <name>.rejected.csv
    encoding: str | None = None  # default UTF-8 (a byte-order mark is fine)
    delimiter: str | None = None  # default: sniffed from the header (, ; tab |)
    date_format: str | None = None  # strptime format overriding date detection
    location_code: str | None = None  # orders: book every order at this existing location
    dry_run: bool = False  # check everything, write nothing


@dataclass(frozen=True)
class Parsed(Generic[Row]):
    line: int
    row: Row


@dataclass
class Job:
    """One import run: where it reads from, what it was asked, and what it has to say."""

    path: Path
    binding: Binding
    options: ImportOptions
    now: datetime
    progress: ProgressCallback = no_progress
    raw_rows: list[RawRow] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def file(self) -> str:
        return self.path.name

    def problem(self, line: int, column: str | None, reason: str) -> Problem:
        return Problem(line, self.file, self.binding.name(column) if column else None, reason)

    def warn(self, line: int, reason: str) -> None:
        self.warnings.append(
            f"{self.file} line {line}: {reason}" if line else f"{self.file}: {reason}"
        )


class KindImporter(ABC, Generic[Row]):
    """Reads one kind of record: its columns, its row model, its checks and its writes."""

    spec: ClassVar[ColumnSpec]
    model: type[Row]

    def context(self, table: CsvFile, job: Job) -> dict[str, Any]:
        """Per-file context the row model needs (the date reader); raises for file problems."""
        return {}

    def check(self, session: Session, rows: list[Parsed[Row]], job: Job) -> list[Problem]:
        """Problems between rows (duplicates) and with the store (unknown references)."""
        return []

    def cascade(self, rows: list[Parsed[Row]], rejected: set[int], job: Job) -> list[Problem]:
        """Further lines to reject because a rejected line takes them down (an order's lines)."""
        return []

    @abstractmethod
    def write(self, session: Session, rows: list[Parsed[Row]], job: Job) -> list[Tally]:
        """Write the accepted rows in the caller's transaction; returns what changed."""


def duplicate_problems(
    rows: list[Parsed[Row]],
    key: Callable[[Row], Hashable | None],
    column: str,
    shown: Callable[[Row], str],
    job: Job,
    what: str,
) -> list[Problem]:
    """A problem for every repeat of a key, naming the line where it first appeared."""
    first: dict[Hashable, int] = {}
    problems: list[Problem] = []
    for parsed in rows:
        value = key(parsed.row)
        if value is None:
            continue
        if value in first:
            problems.append(
                job.problem(
                    parsed.line,
                    column,
                    f'"{shown(parsed.row)}" is also on line {first[value]}; {what}',
                )
            )
        else:
            first[value] = parsed.line
    return problems
