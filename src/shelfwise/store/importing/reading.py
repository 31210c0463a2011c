"""From bytes on disk to rows with their physical line numbers and a header bound to columns.

Spreadsheets export CSV in many shapes: with or without a byte-order mark, separated by
commas, semicolons or tabs, in UTF-8 or a legacy code page, with headers spelled "Unit Price"
or "unit_price". This module absorbs those differences and refuses, with a reason, what it
cannot read safely (a file that is not UTF-8 is never guessed at).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from shelfwise.store.importing.problems import ImportFailed, Problem, file_problem

DELIMITERS = (",", ";", "\t", "|")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


def normalize_header(name: str) -> str:
    """Header names match case-, space-, underscore- and hyphen-insensitively."""
    return re.sub(r"[\s_\-]+", "", name).lower()


@dataclass(frozen=True)
class RawRow:
    line: int  # physical line where the record starts; the header is line 1
    values: list[str]


@dataclass
class CsvFile:
    path: Path
    delimiter: str
    header: list[str]
    header_line: int
    rows: list[RawRow]
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name


def read_csv(path: Path, *, encoding: str | None = None, delimiter: str | None = None) -> CsvFile:
    """Read a whole CSV file; raises ImportFailed for problems of the file as a whole."""
    name = path.name
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise file_problem(name, f"cannot be read: {exc.strerror or exc}") from exc
    text, notes = _decode(data, name, encoding)
    if not text.strip():
        raise file_problem(
            name, "the file is empty; its first line must be a header naming the columns"
        )
    chosen = delimiter if delimiter is not None else _sniff_delimiter(text)
    if len(chosen) != 1:
        raise file_problem(name, f"the delimiter must be one character, got {chosen!r}")
    if delimiter is None and chosen != ",":
        notes.append(f"columns are separated by {DELIMITER_NAMES[chosen]}s")
    header, header_line, rows = _split_records(text, chosen, name)
    return CsvFile(path, chosen, header, header_line, rows, notes)


def _decode(data: bytes, name: str, encoding: str | None) -> tuple[str, list[str]]:
    notes: list[str] = []
    wanted = encoding or "UTF-8"
    try:
        codec = codecs.lookup(wanted).name
    except LookupError as exc:
        raise file_problem(name, f"unknown encoding {wanted!r} (try utf-8 or latin-1)") from exc
    if codec in ("utf-8", "utf-8-sig"):
        codec = "utf-8-sig"  # a byte-order mark, as Excel writes it, is not part of the header
        if data.startswith(codecs.BOM_UTF8):
            notes.append("byte-order mark skipped")
    try:
        return data.decode(codec), notes
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        if data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
            hint = 'it looks like UTF-16 ("Unicode text"); pass --encoding utf-16'
        else:
            hint = (
                're-save it as "CSV UTF-8" (spreadsheets offer it under Save As), or name its '
                "encoding, e.g. --encoding latin-1"
            )
        raise file_problem(
            name,
            f"the file is not {wanted} text: byte 0x{data[exc.start]:02X} on line {line} "
            f"cannot be read as {wanted}; {hint}",
        ) from exc


def _sniff_delimiter(text: str) -> str:
    """The candidate occurring most often (outside quotes) in the header line; comma on ties."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    unquoted = re.sub(r'"[^"]*"', "", first)
    counts = {d: unquoted.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


def _split_records(text: str, delimiter: str, name: str) -> tuple[list[str], int, list[RawRow]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] | None = None
    header_line = 1
    rows: list[RawRow] = []
    previous_end = 0
    try:
        for record in reader:
            start = previous_end + 1
            previous_end = reader.line_num
            if not any(value.strip() for value in record):
                continue  # blank lines, and the ",,,," rows spreadsheets leave at the end
            if header is None:
                header = [value.strip() for value in record]
                header_line = start
            else:
                rows.append(RawRow(start, record))
    except csv.Error as exc:
        raise file_problem(
            name, f"line {reader.line_num} is not valid CSV ({exc})", line=reader.line_num
        ) from exc
    assert header is not None  # the text is not blank
    return header, header_line, rows


@dataclass(frozen=True)
class ColumnSpec:
    """The columns one kind of import reads.

    `one_of` groups need at least one of their columns present; `aliases` map other spellings
    (after normalising) to our names; `ignored` are known columns read by nothing, so no warning.
    """

    kind: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    one_of: tuple[tuple[str, ...], ...] = ()
    aliases: Mapping[str, str] = field(default_factory=dict)
    ignored: tuple[str, ...] = ()

    @property
    def known(self) -> tuple[str, ...]:
        grouped = tuple(c for group in self.one_of for c in group)
        return self.required + grouped + self.optional


@dataclass(frozen=True)
class Binding:
    """Which position of a row holds which of our columns, and how the file spells it."""

    file: str
    width: int
    index: dict[str, int]
    names: dict[str, str]
    warnings: tuple[str, ...] = ()

    def has(self, column: str) -> bool:
        return column in self.index

    def name(self, column: str) -> str:
        return self.names.get(column, column)

    def values(self, row: RawRow) -> dict[str, str] | Problem:
        """The row's cells by our column names, or a problem when it has too many values."""
        values = row.values
        if len(values) > self.width and any(v.strip() for v in values[self.width :]):
            return Problem(
                row.line,
                self.file,
                None,
                f"has {len(values)} values but the header has {self.width} columns; "
                "a value containing the delimiter must be in double quotes",
            )
        return {
            column: values[i].strip() if i < len(values) else "" for column, i in self.index.items()
        }


def bind_columns(table: CsvFile, spec: ColumnSpec) -> Binding:
    """Match the header to the spec; raises ImportFailed when required columns are missing."""
    lookup = {normalize_header(c): c for c in spec.known}
    lookup.update({normalize_header(a): c for a, c in spec.aliases.items()})
    ignored = {normalize_header(c) for c in spec.ignored}
    index: dict[str, int] = {}
    names: dict[str, str] = {}
    problems: list[Problem] = []
    unknown: list[str] = []
    for position, header in enumerate(table.header):
        key = normalize_header(header)
        if not key or key in ignored:
            continue
        column = lookup.get(key)
        if column is None:
            unknown.append(header)
        elif column in index:
            problems.append(
                Problem(
                    table.header_line,
                    table.name,
                    None,
                    f'columns "{names[column]}" and "{header}" both mean {column}; keep one',
                )
            )
        else:
            index[column] = position
            names[column] = header
    missing = [c for c in spec.required if c not in index]
    if missing:
        found = ", ".join(h for h in table.header if h) or "nothing"
        reason = f"missing required column(s) {', '.join(missing)}; the header has: {found}"
        if len(table.header) == 1:
            others = [DELIMITER_NAMES[d] for d in DELIMITERS if d in table.header[0]]
            if others:
                reason += f" (is the file separated by {others[0]}s? pass --delimiter)"
        problems.append(Problem(table.header_line, table.name, None, reason))
    for group in spec.one_of:
        if not any(c in index for c in group):
            problems.append(
                Problem(
                    table.header_line,
                    table.name,
                    None,
                    f"needs one of the columns {' or '.join(group)}; the header has: "
                    + ", ".join(h for h in table.header if h),
                )
            )
    if problems:
        raise ImportFailed(problems)
    warnings: tuple[str, ...] = ()
    if unknown:
        warnings = (
            f"{table.name} line {table.header_line}: column(s) {', '.join(unknown)} are not "
            f"read by a {spec.kind} import and were ignored",
        )
    return Binding(table.name, len(table.header), index, names, warnings)
