"""Run one import: read, validate every row, check, then write all or (if asked) the valid part.

By default an import is all-or-nothing and reports every problem at once, so a shop fixes its
file in one pass. With `skip_invalid` the valid rows load and the others go to
`<name>.rejected.csv` beside the input, with the original columns plus `line` and `reason`, ready
to be fixed and imported again (the two extra columns are then ignored with a warning).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shelfwise.store.db import Database
from shelfwise.store.importing.base import (
    ImportOptions,
    Job,
    KindImporter,
    Parsed,
    ProgressCallback,
    no_progress,
)
from shelfwise.store.importing.problems import ImportFailed, Problem
from shelfwise.store.importing.reading import CsvFile, bind_columns, normalize_header, read_csv
from shelfwise.store.importing.rows import validate_row
from shelfwise.store.importing.storage import Tally
from shelfwise.store.models import utcnow

PROGRESS_EVERY = 1000


@dataclass
class ImportReport:
    """What an import did, for the command line and for tests."""

    kind: str
    path: Path
    rows_read: int
    rows_loaded: int
    tallies: list[Tally] = field(default_factory=list)
    rejected: list[Problem] = field(default_factory=list)
    rejected_path: Path | None = None
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    dry_run: bool = False

    @property
    def rejected_lines(self) -> int:
        return len({p.line for p in self.rejected})


class _DryRun(Exception):
    """Rolls the transaction back after a complete, checked run."""


def rejected_path_for(path: Path) -> Path:
    return path.with_name(f"{path.stem}.rejected.csv")


def run_import(
    db: Database,
    importer: KindImporter[Any],
    path: Path,
    options: ImportOptions,
    progress: ProgressCallback = no_progress,
) -> ImportReport:
    table = read_csv(path, encoding=options.encoding, delimiter=options.delimiter)
    binding = bind_columns(table, importer.spec)
    job = Job(path, binding, options, utcnow(), progress, table.rows)
    job.notes.extend(table.notes)
    job.warnings.extend(binding.warnings)
    report = ImportReport(importer.spec.kind, path, len(table.rows), 0, dry_run=options.dry_run)
    if not table.rows:
        job.warn(0, "the file has a header but no rows; nothing to import")
        report.warnings, report.notes = job.warnings, job.notes
        return report

    context = importer.context(table, job)
    parsed, problems = _parse(importer, table, job, context)
    try:
        with db.session() as session:
            problems += importer.check(session, parsed, job)
            if problems and not options.skip_invalid:
                raise ImportFailed(problems, job.warnings)
            if problems:
                problems += importer.cascade(parsed, {p.line for p in problems}, job)
                rejected = {p.line for p in problems}
                parsed = [p for p in parsed if p.line not in rejected]
            # Rows are stamped when the write starts, not when the file was read: the pipeline
            # extracts by `updated_at`, and a stamp older than its overlap window by the time
            # the import commits would never be extracted.
            job.now = utcnow()
            report.tallies = importer.write(session, parsed, job)
            report.rows_loaded = len(parsed)
            if options.dry_run:
                raise _DryRun
    except _DryRun:
        pass
    report.rejected = sorted(problems)
    if problems and not options.dry_run:
        report.rejected_path = _write_rejected(table, problems, options)
    report.warnings, report.notes = job.warnings, job.notes
    return report


def _parse(
    importer: KindImporter[Any], table: CsvFile, job: Job, context: dict[str, Any]
) -> tuple[list[Parsed[Any]], list[Problem]]:
    parsed: list[Parsed[Any]] = []
    problems: list[Problem] = []
    total = len(table.rows)
    for number, raw in enumerate(table.rows, start=1):
        values = job.binding.values(raw)
        if isinstance(values, Problem):
            problems.append(values)
            continue
        result = validate_row(
            importer.model, values, line=raw.line, binding=job.binding, context=context
        )
        if isinstance(result, list):
            problems.extend(result)
        else:
            parsed.append(Parsed(raw.line, result))
        if number % PROGRESS_EVERY == 0 or number == total:
            job.progress("checking rows", number, total)
    return parsed, problems


def _write_rejected(table: CsvFile, problems: list[Problem], options: ImportOptions) -> Path:
    """The rejected lines with their original cells, their line number and every reason."""
    reasons: dict[int, list[str]] = defaultdict(list)
    for problem in problems:
        text = f"{problem.column}: {problem.reason}" if problem.column else problem.reason
        reasons[problem.line].append(text)
    keep = [i for i, h in enumerate(table.header) if normalize_header(h) not in ("line", "reason")]
    target = rejected_path_for(table.path)
    encoding = options.encoding or "utf-8"
    with target.open("w", newline="", encoding=encoding, errors="replace") as handle:
        writer = csv.writer(handle, delimiter=table.delimiter)
        writer.writerow([table.header[i] for i in keep] + ["line", "reason"])
        for raw in table.rows:
            if raw.line in reasons:
                cells = [raw.values[i] if i < len(raw.values) else "" for i in keep]
                writer.writerow([*cells, raw.line, "; ".join(reasons[raw.line])])
    return target
