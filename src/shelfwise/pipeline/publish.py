"""Publishing gold: the DuckDB warehouse file, swapped atomically, and an optional PostgreSQL
warehouse, replaced in one transaction.

The warehouse file is built aside (`.warehouse.duckdb.<run>.tmp` in the same folder), flushed
to disk, then moved over the old one with `os.replace`: a reader sees the previous complete
warehouse or the new one, never half of one, and a crash leaves the previous one in place. An
incremental run builds aside from a copy of the current file and replaces only recent days of
the large daily fact, instead of copying 50 M unchanged rows again; on the DuckDB engine it
reads them from the engine's own tables while the lake is being written. A full build on the
DuckDB engine starts the file in the gold stage and builds the daily fact straight into it.
The file a publish replaced stays beside the new one as `warehouse.previous.duckdb` until the
next run that publishes (`keep_previous`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence, Set
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from shelfwise.pipeline.duckdb_support import (
    connect,
    create_table_from_arrow,
    libpq_dsn,
    load_extension,
    quote,
)
from shelfwise.pipeline.lake import Lake


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@dataclass(frozen=True)
class Published:
    """A lake table and the name it gets in the warehouse."""

    layer: str
    table: str
    name: str


BUILDING = "_warehouse_build"  # the catalog name the file being built is attached under


def building_path(path: Path, run_id: str) -> Path:
    """Where run `run_id` builds the warehouse `path` before swapping it in."""
    return path.with_name(f".{path.name}.{run_id}.tmp")


def attach_build(con: duckdb.DuckDBPyConnection, path: Path, run_id: str) -> Path:
    """Start the warehouse file of a full build early, attached to `con`'s database, so that
    a large table can be built straight into it (`build_aside`) instead of being built in
    memory and copied at publishing: compressed, it does not spill, and is read faster."""
    path.parent.mkdir(parents=True, exist_ok=True)
    building = building_path(path, run_id)
    building.unlink(missing_ok=True)
    con.execute(f"ATTACH {quote(str(building))} AS {BUILDING}")
    return building


def build_aside(
    con: duckdb.DuckDBPyConnection,
    name: str,
    parts: Sequence[str],
    compression: Mapping[str, str] | None = None,
) -> str:
    """Table `name` in the attached build file, from the rows of each query of `parts` in
    turn (so in their order), its columns stored by the methods `compression` names (kept by
    the table for later writes too); returns its qualified name."""
    target = f"{BUILDING}.main.{name}"
    if not compression:
        con.execute(f"CREATE TABLE {target} AS {parts[0]}")
    else:
        columns = con.execute(f"DESCRIBE {parts[0]}").fetchall()
        definitions = ", ".join(
            '"'
            + column.replace('"', '""')
            + f'" {kind}'
            + (f" USING COMPRESSION {compression[column]}" if column in compression else "")
            for column, kind, *_ in columns
        )
        con.execute(f"CREATE TABLE {target} ({definitions})")
        con.execute(f"INSERT INTO {target} {parts[0]}")
    for part in parts[1:]:
        con.execute(f"INSERT INTO {target} {part}")
    return target


def previous_path(path: Path) -> Path:
    """Where the warehouse `path` replaced by the last publish is kept (`keep_previous`)."""
    return path.with_name(f"{path.stem}.previous{path.suffix}")


def keep_previous(path: Path) -> None:
    """Keep the warehouse about to be replaced as `previous_path` (a second name for the same
    file), until the next publish: replacing the last name of a file frees its blocks inside
    the swap, 0.15 s for 200 MB on a disk mounted with online discard (as cloud disks often
    are), while a daily run deletes the older file on its background thread (`copy_current`)."""
    previous = previous_path(path)
    previous.unlink(missing_ok=True)  # (already gone after `copy_current`)
    # (On a file system without hard links the swap frees the old file itself.)
    if path.is_file():
        with contextlib.suppress(OSError):
            os.link(path, previous)


def copy_current(path: Path, run_id: str) -> Path:
    """Copy the current warehouse to where run `run_id` builds the next one, for a daily run
    to patch, then delete the one before it (`keep_previous`). Started early, beside silver
    and gold (the current file does not change while the run holds the pipeline's lock):
    copying 200 MB took 0.07-0.3 s of the publish step."""
    building = building_path(path, run_id)
    shutil.copyfile(path, building)
    previous_path(path).unlink(missing_ok=True)
    return building


def attach_copy(con: duckdb.DuckDBPyConnection, building: Path) -> set[str]:
    """Attach the copy `copy_current` made to `con`'s database, for a daily run's gold to read
    the previous version of its tables from (DuckDB's own format, with the daily fact in date
    order: its 28-day window took 0.20 s from the lake's Parquet files) before publishing
    patches it; returns the tables it holds."""
    con.execute(f"ATTACH {quote(str(building))} AS {BUILDING}")
    return _held(con)


def detach_copy(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"DETACH {BUILDING}")


def previous_in_copy(name: str) -> str:
    """The relation of table `name` in the attached copy (`attach_copy`)."""
    return f"{BUILDING}.main.{name}"


def _nothing() -> None:
    return None


def _rows_of(
    lake: Lake, item: Published, source: str | None, wait: Callable[[], object] = _nothing
) -> str | None:
    """What to read `item`'s rows from: the relation `source`, or (once `wait` returned) the
    lake table's Parquet files in path order (a partitioned table lands partition by
    partition, so patching its newest days later touches only the last row groups); None for
    a lake table without rows."""
    if source is not None:
        return source
    wait()
    files = lake.files(item.layer, item.table)
    if files is None:
        raise LookupError(f"lake table {item.layer}/{item.table} is missing; cannot publish it")
    return f"read_parquet({sorted(files)!r}, union_by_name = true)" if files else None


def _copy(
    con: duckdb.DuckDBPyConnection,
    lake: Lake,
    item: Published,
    target: str,
    source: str | None = None,
    wait: Callable[[], object] = _nothing,
) -> None:
    """Copy one table into `target`, from the relation `source` or from the lake."""
    rows = _rows_of(lake, item, source, wait)
    if rows is not None:
        con.execute(f"CREATE TABLE {target} AS SELECT * FROM {rows}")
        return
    create_table_from_arrow(
        con, target, lake.empty_table(item.layer, item.table), lake.scratch("arrow")
    )


def _patch(
    con: duckdb.DuckDBPyConnection,
    lake: Lake,
    item: Published,
    column: str,
    since: str,
    source: str | None = None,
    wait: Callable[[], object] = _nothing,
) -> None:
    """Replace the rows of `item` from `since` on with the lake's, or with those of the
    relation `source` (the rest stays as it was)."""
    target = f"{BUILDING}.{item.name}"
    con.execute(f"DELETE FROM {target} WHERE {column} >= CAST('{since}' AS DATE)")
    rows = _rows_of(lake, item, source, wait)
    if rows is not None:
        con.execute(
            f"INSERT INTO {target} SELECT * FROM {rows} WHERE {column} >= CAST('{since}' AS DATE)"
        )


def _held(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {
        name
        for (name,) in con.sql(
            f"SELECT table_name FROM duckdb_tables() WHERE database_name = '{BUILDING}'"
        ).fetchall()
    }


def _holds(con: duckdb.DuckDBPyConnection, tables: Sequence[Published]) -> bool:
    return {item.name for item in tables} <= _held(con)


def publish_warehouse(
    path: Path,
    lake: Lake,
    tables: Sequence[Published],
    *,
    run_id: str,
    comments: Mapping[str, str],
    patches: Mapping[str, tuple[str, str]] | None = None,
    unchanged: Set[str] = frozenset(),
    con: duckdb.DuckDBPyConnection | None = None,
    sources: Mapping[str, str] | None = None,
    lake_written: Callable[[], object] = _nothing,
    prebuilt: Set[str] = frozenset(),
    copied: Callable[[], object] | None = None,
    attached: bool = False,
    before_swap: Callable[[Mapping[str, tuple[str, str]], Set[str]], object] | None = None,
) -> None:
    """Copy lake tables into a new DuckDB file and swap it in atomically.

    `patches` (table -> (date column, first day)): tables of which only the rows from that day
    on changed. Then the build starts from a copy of the current warehouse, those tables get
    their recent rows replaced, the `unchanged` ones stay as they are and the others are copied
    anew; still built aside and swapped.

    `con`, `sources`: a connection whose relations hold some tables' rows (warehouse name ->
    relation; for a patched table, its recomputed rows), read instead of the lake: the engine's
    database, while the lake is still being written. `lake_written` returns once it is (raising
    if it could not be): called before any table is read from the lake, and before the swap,
    so a failure there leaves the current warehouse in place.

    `prebuilt`: tables already built in the file `attach_build` attached to `con` (a full
    build); they are kept as they are. `copied`: returns once `copy_current` has copied the
    current warehouse to the build path (started earlier); without it, a patch copies it here.
    `attached`: that copy is attached to `con` already (`attach_copy`).

    `before_swap`: called once the file is complete and the lake written, just before the swap,
    with the patches and unchanged tables the file got (none when it was built whole): the
    PostgreSQL warehouse; if it fails, the current file stays in place.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    building = building_path(path, run_id)
    if prebuilt and (con is None or patches):
        raise ValueError("prebuilt tables need the connection their file is attached to")
    patches = patches or {}
    sources = sources or {}
    patching = bool(patches) and path.is_file()  # (only an incremental gold run has patches)
    if copied is not None:
        copied()  # finished before the copy is patched, or removed when there is no patch
    if attached and not patching:  # nothing to patch: no relation reads the copy any more
        assert con is not None
        detach_copy(con)
        attached = False
    if not prebuilt and not (patching and copied is not None):
        building.unlink(missing_ok=True)
    if not patching:  # the recomputed rows of a patched table are not the whole table
        sources = {k: v for k, v in sources.items() if k not in patches}
    own = con is None
    connection = duckdb.connect() if con is None else con
    try:
        if patching:
            if copied is None:
                copy_current(path, run_id)
            # A patch writes a few MB: checkpointed once at the end instead of also midway when
            # the WAL passes DuckDB's 16 MB threshold (measured 0.82 -> 0.68 s at 1 M lines).
            connection.execute("SET checkpoint_threshold = '1GB'")
        if not prebuilt and not attached:
            connection.execute(f"ATTACH {quote(str(building))} AS {BUILDING}")
        try:
            rebuild = patching and not _holds(connection, tables)
            if not rebuild:
                patched = patches if patching else {}
                kept = unchanged if patching else prebuilt
                _fill(connection, lake, tables, comments, patched, sources, lake_written, kept)
                if prebuilt:  # the lake writes read them from this file: DuckDB checkpoints
                    lake_written()  # a file only once no other transaction is open on it
                connection.execute(f"CHECKPOINT {BUILDING}")
        finally:
            connection.execute(f"DETACH {BUILDING}")
            if patching:
                connection.execute("RESET checkpoint_threshold")
        if rebuild:  # written by a release with fewer tables: build it whole
            building.unlink()
            publish_warehouse(
                path,
                lake,
                tables,
                run_id=run_id,
                comments=comments,
                con=con,
                sources={k: v for k, v in sources.items() if k not in patches},
                lake_written=lake_written,
                before_swap=before_swap,
            )
            return
        lake_written()
        if before_swap is not None:
            before_swap(patches if patching else {}, unchanged if patching else frozenset())
        _fsync(building)
        keep_previous(path)
        building.replace(path)  # atomic rename: readers see old or new, never half
        _fsync(path.parent)
    finally:
        if own:
            connection.close()
        building.unlink(missing_ok=True)
        Path(f"{building}.wal").unlink(missing_ok=True)


def _fill(
    con: duckdb.DuckDBPyConnection,
    lake: Lake,
    tables: Sequence[Published],
    comments: Mapping[str, str],
    patches: Mapping[str, tuple[str, str]],
    sources: Mapping[str, str],
    lake_written: Callable[[], object],
    unchanged: Set[str] = frozenset(),
) -> None:
    """Patch, keep or copy each table into the attached file (`patches` only when it is a
    copy of the current warehouse; `unchanged`: tables the file already holds as they
    should be)."""
    for item in tables:
        source = sources.get(item.name)
        target = f"{BUILDING}.{item.name}"
        if item.name in patches:
            _patch(con, lake, item, *patches[item.name], source=source, wait=lake_written)
            continue
        if item.name in unchanged:
            if not patches and item.name in comments:  # built here by this run: not commented
                con.execute(f"COMMENT ON TABLE {target} IS {quote(comments[item.name])}")
            continue
        if patches:
            con.execute(f"DROP TABLE IF EXISTS {target}")
        _copy(con, lake, item, target, source, lake_written)
        if item.name in comments:
            con.execute(f"COMMENT ON TABLE {target} IS {quote(comments[item.name])}")


def remove_stale_builds(path: Path, run_id: str = "*") -> None:
    """Half-built warehouse files of crashed runs (of run `run_id`, or of any)."""
    for stale in path.parent.glob(f"{building_path(path, run_id).name}*"):
        stale.unlink(missing_ok=True)


def _libpq(url: str) -> str:
    from sqlalchemy.engine import make_url

    from shelfwise.store.db import normalize_url

    parsed = make_url(normalize_url(url))
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(
            "SHELFWISE_WAREHOUSE_URL must be a PostgreSQL URL (postgresql://user@host/db), "
            f"got {parsed.render_as_string(hide_password=True)!r}"
        )
    return libpq_dsn(parsed)


VERSION_TABLE = "shelfwise_warehouse_version"  # in PostgreSQL: the run whose gold it holds


@dataclass(frozen=True)
class PostgresPatch:
    """What a daily run changed (as `publish_warehouse` applied it to the DuckDB file), for a
    PostgreSQL warehouse that holds the gold run `base` published."""

    base: str
    patches: Mapping[str, tuple[str, str]]
    unchanged: Set[str]


def publish_postgres(
    url: str,
    lake: Lake,
    items: Sequence[Published],
    comments: Mapping[str, str],
    *,
    run_id: str,
    indexed: Mapping[str, str] | None = None,
    patch: PostgresPatch | None = None,
) -> str:
    """Push gold to PostgreSQL in one transaction; returns "patched" or "replaced".

    Replaced: every table is loaded as `<name>__staging`, then all are renamed into place.
    With `patch`, when the warehouse holds the gold of run `patch.base` (its
    `shelfwise_warehouse_version` row says so, and the tables patched or kept have the lake's
    columns), only the patched tables' rows from their first day on are loaded and replaced,
    the unchanged tables are left alone, and the others are replaced: a daily run at 1 M
    order lines sent the whole 52 M-row daily fact again otherwise (76 s). Any doubt (another
    run's gold, a table of an older release, no version row) and every table is replaced. The
    transaction checks the version again under a lock, so a push from elsewhere in between
    fails this one instead of being patched over.

    `indexed` (table -> date column): tables a patch deletes from by that column, given a
    BRIN index when they are replaced (tiny, since rows land month by month). Every replaced
    table is analysed before the swap. At 1 M order lines a day's delete from the daily fact
    then took 0.5 s instead of 4.3 s; the index took 10 s to build.

    A replaced table's grants are given to its new version; a view on a table being replaced
    would make PostgreSQL refuse the swap, so such views are named before anything is loaded.
    A failed push leaves no staging tables behind."""
    indexed = indexed or {}
    with _attached_postgres(url) as con:
        patched: Mapping[str, tuple[str, str]] = {}
        kept: Set[str] = frozenset()
        if patch is not None and _holds_version(con, lake, items, patch):
            patched, kept = patch.patches, patch.unchanged
        sent = [item for item in items if item.name not in kept]
        replaced = [item.name for item in sent if item.name not in patched]
        _refuse_dependent_views(con, replaced)
        grants = _grants(con, replaced) if replaced else []
        staged = [f"{item.name}__staging" for item in sent]
        try:
            _drop_staging(con, staged)
            swap = ["BEGIN"]
            if patch is not None and (patched or kept):
                swap += _still_at(patch.base)
            for item, staging in zip(sent, staged, strict=True):
                name = item.name
                if name in patched:
                    column, since = patched[name]
                    swap.append(f"DELETE FROM {name} WHERE {column} >= DATE '{since}'")
                    rows = _rows_of(lake, item, None)
                    if rows is not None:
                        con.execute(
                            f"CREATE TABLE pg.public.{staging} AS SELECT * FROM {rows} "
                            f"WHERE {column} >= CAST('{since}' AS DATE)"
                        )
                        swap += [
                            f"INSERT INTO {name} SELECT * FROM {staging}",
                            f"DROP TABLE {staging}",
                        ]
                    # (the ranges of the new rows; a table of an older release has no index)
                    swap.append(
                        "SELECT brin_summarize_new_values(i) FROM "
                        f"(SELECT to_regclass('{_index(name)}') AS i) x WHERE i IS NOT NULL"
                    )
                    continue
                _copy(con, lake, item, f"pg.public.{staging}")
                swap += [f"DROP TABLE IF EXISTS {name}", f"ALTER TABLE {staging} RENAME TO {name}"]
                if name in indexed:
                    _postgres(
                        con,
                        f"CREATE INDEX {_index(staging)} ON {staging} USING brin ({indexed[name]})",
                    )
                    swap.append(f"ALTER INDEX {_index(staging)} RENAME TO {_index(name)}")
                # (statistics now, not at autovacuum's leisure: without them PostgreSQL reads
                # the whole daily fact to delete a day, ignoring its index)
                _postgres(con, f"ANALYZE {staging}")
                if name in comments:
                    swap.append(f"COMMENT ON TABLE {name} IS {quote(comments[name])}")
            swap.extend(grants)
            swap += [
                f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} "
                "(run_id TEXT NOT NULL, published_at TIMESTAMPTZ NOT NULL)",
                f"DELETE FROM {VERSION_TABLE}",
                f"INSERT INTO {VERSION_TABLE} VALUES ({quote(run_id)}, now())",
                "COMMIT",
            ]
            _postgres(con, "; ".join(swap))
        except Exception:
            with contextlib.suppress(Exception):  # (the error that matters is the first)
                _drop_staging(con, staged)
            raise
    return "patched" if patched or kept else "replaced"


def _index(table: str) -> str:
    return f"{table}__brin"


def _still_at(base: str) -> list[str]:
    """Statements that hold the version row until the transaction ends and fail it unless
    the row still names run `base` (a push from another home may have come in between)."""
    message = (
        "the PostgreSQL warehouse changed while this run pushed to it (another run published "
        "there); nothing was changed, run again"
    )
    return [
        f"LOCK TABLE {VERSION_TABLE} IN EXCLUSIVE MODE",
        f"DO $$ BEGIN IF (SELECT min(run_id) FROM {VERSION_TABLE}) IS DISTINCT FROM "
        f"{quote(base)} THEN RAISE EXCEPTION {quote(message)}; END IF; END $$",
    ]


def _postgres(con: duckdb.DuckDBPyConnection, statement: str) -> None:
    con.execute(f"CALL postgres_execute('pg', {quote(statement)})")


def _holds_version(
    con: duckdb.DuckDBPyConnection, lake: Lake, items: Sequence[Published], patch: PostgresPatch
) -> bool:
    """Whether the PostgreSQL warehouse holds the gold of run `patch.base`, with every table
    a patch keeps or patches in the lake's columns."""
    if not _holds_run(con, patch.base):
        return False
    touched = [i for i in items if i.name in patch.patches or i.name in patch.unchanged]
    if not touched:
        return True
    names = ", ".join(quote(i.name) for i in touched)
    held: dict[str, list[str]] = {}
    for table, column in _postgres_rows(
        con,
        "SELECT table_name, column_name FROM information_schema.columns "
        f"WHERE table_schema = 'public' AND table_name IN ({names}) "
        "ORDER BY table_name, ordinal_position",
    ):
        held.setdefault(table, []).append(column)
    return all(held.get(i.name) == _lake_columns(con, lake, i) for i in touched)


def _holds_run(con: duckdb.DuckDBPyConnection, run_id: str) -> bool:
    if _postgres_rows(con, f"SELECT to_regclass({quote(VERSION_TABLE)})::text") == [(None,)]:
        return False
    return _postgres_rows(con, f"SELECT run_id FROM {VERSION_TABLE}") == [(run_id,)]


def postgres_holds(url: str, run_id: str) -> bool:
    """Whether the PostgreSQL warehouse at `url` holds the gold run `run_id` published."""
    with _attached_postgres(url, read_only=True) as con:
        return _holds_run(con, run_id)


@contextlib.contextmanager
def _attached_postgres(url: str, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB connection with the PostgreSQL warehouse at `url` attached as `pg`."""
    con = connect()
    try:
        load_extension(con, "postgres")
        mode = ", READ_ONLY" if read_only else ""
        con.execute(f"ATTACH {quote(_libpq(url))} AS pg (TYPE postgres{mode})")
        yield con
    finally:
        con.close()


def _lake_columns(con: duckdb.DuckDBPyConnection, lake: Lake, item: Published) -> list[str] | None:
    """The columns, in order, of the relation a push builds `item` from (None when the lake
    table has no rows, a doubt)."""
    rows = _rows_of(lake, item, None)
    if rows is None:
        return None
    return [str(column) for column, *_ in con.execute(f"DESCRIBE SELECT * FROM {rows}").fetchall()]


def _in_public(tables: Sequence[str]) -> str:
    names = ", ".join(quote(name) for name in tables)
    return f"n.nspname = 'public' AND c.relname IN ({names})"


def _postgres_rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[Any, ...]]:
    return con.execute(f"SELECT * FROM postgres_query('pg', {quote(sql)})").fetchall()


def _refuse_dependent_views(con: duckdb.DuckDBPyConnection, tables: Sequence[str]) -> None:
    if not tables:
        return
    views = _postgres_rows(
        con,
        "SELECT DISTINCT vn.nspname || '.' || v.relname, c.relname "
        "FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid "
        "JOIN pg_class v ON v.oid = r.ev_class "
        "JOIN pg_namespace vn ON vn.oid = v.relnamespace "
        "JOIN pg_class c ON c.oid = d.refobjid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        f"WHERE v.oid <> c.oid AND {_in_public(tables)} ORDER BY 1, 2",
    )
    if views:
        listed = ", ".join(f"{view} (on {table})" for view, table in views)
        raise ValueError(
            f"the PostgreSQL warehouse has views on gold tables: {listed}. Each push replaces "
            "the gold tables, which PostgreSQL refuses while a view depends on them; define "
            "those views in another database, or drop them before the push and create them "
            "again after it"
        )


def _grants(con: duckdb.DuckDBPyConnection, tables: Sequence[str]) -> list[str]:
    """GRANT statements that give the new versions of `tables` what others hold on the
    current ones (the owner's own rights come with the new table)."""
    rows = _postgres_rows(
        con,
        "SELECT c.relname, a.privilege_type, "
        "CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END, "
        "CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "CROSS JOIN LATERAL aclexplode(c.relacl) a "
        "LEFT JOIN pg_roles r ON r.oid = a.grantee "
        f"WHERE a.grantee <> c.relowner AND {_in_public(tables)} ORDER BY 1, 2, 3",
    )
    return [f"GRANT {what} ON {table} TO {to}{option}" for table, what, to, option in rows]


def _drop_staging(con: duckdb.DuckDBPyConnection, staged: Sequence[str]) -> None:
    for staging in staged:
        _postgres(con, f"DROP TABLE IF EXISTS {staging}")
