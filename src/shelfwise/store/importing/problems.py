"""What went wrong in an import, said so a person can find and fix it.

Every problem names the file, and where it can, the physical line (the header is line 1) and
the column as spelled in the file's header.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from shelfwise.store.errors import InvalidRequest


@dataclass(frozen=True, order=True)
class Problem:
    """One reason a file, or one of its lines, cannot be imported."""

    line: int  # 0 = the file as a whole
    file: str
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = self.file
        if self.line:
            where += f" line {self.line}"
        if self.column:
            where += f", column {self.column}"
        return f"{where}: {self.reason}"


class ImportFailed(InvalidRequest):
    """Raised when a file cannot be imported; lists every problem, not only the first."""

    code = "import_failed"

    def __init__(self, problems: Iterable[Problem], warnings: Iterable[str] = ()) -> None:
        self.problems = sorted(problems, key=lambda p: (p.line, p.column or "", p.reason))
        self.warnings = list(warnings)  # e.g. ignored columns, worth knowing while fixing
        count = len(self.problems)
        lines = "\n".join(str(p) for p in self.problems)
        rows = {p.line for p in self.problems if p.line > 1}
        summary = f"{count} problem{'s' if count != 1 else ''}"
        if rows:
            summary += f" on {len(rows)} line{'s' if len(rows) != 1 else ''}"
        super().__init__(f"{summary}; nothing was imported:\n{lines}")


def file_problem(file: str, reason: str, *, line: int = 0) -> ImportFailed:
    """A problem with the whole file (encoding, header, delimiter): there is nothing to skip."""
    return ImportFailed([Problem(line, file, None, reason)])
