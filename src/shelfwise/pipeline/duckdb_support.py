"""DuckDB connections with the database scanners loaded from their installed wheels.

The `duckdb-extension-*` wheels ship `sqlite.duckdb_extension` etc., but DuckDB derives the
entry point from the file name and the extensions are really called `sqlite_scanner`,
`postgres_scanner` and `mysql_scanner`. A symlink with the right name (in a per-user cache
folder) lets `LOAD` find it; nothing is ever fetched from the network.

DuckDB checks an extension's signature at every `LOAD`: 53 ms of a 1.8 s daily run for the
35 MB SQLite scanner. Our connections skip that check (`allow_unsigned_extensions`) because
the only files they load are the wheels' own, through a symlink this process verified, in a
folder no other user can write: as trusted as the `duckdb` package imported beside them.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import stat
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

SCANNERS = {"sqlite": "sqlite_scanner", "postgres": "postgres_scanner", "mysql": "mysql_scanner"}


def extension_file(name: str) -> Path:
    """Path of the installed extension `name` (sqlite, postgres, mysql) under its real name."""
    spec = importlib.util.find_spec(f"duckdb_extension_{name}")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            f"the DuckDB {name} extension is not installed: pip install "
            f"duckdb-extension-{name}=={duckdb.__version__}"
        )
    package = Path(next(iter(spec.submodule_search_locations)))
    shipped = next(package.rglob("*.duckdb_extension"), None)
    if shipped is None:
        raise RuntimeError(f"no .duckdb_extension file inside {package}")
    cache = _private_folder(
        Path(tempfile.gettempdir()) / f"shelfwise-duckdb-{os.getuid()}-{duckdb.__version__}"
    )
    target = cache / f"{SCANNERS[name]}.duckdb_extension"
    if not _same_file(target, shipped):
        temporary = cache / f"{target.name}.{os.getpid()}.tmp"
        temporary.unlink(missing_ok=True)
        try:
            temporary.symlink_to(shipped)
        except OSError:
            shutil.copyfile(shipped, temporary)
        temporary.replace(target)
    return target


def _private_folder(path: Path) -> Path:
    """`path`, a folder of this user that no one else can write (it is in the shared temporary
    folder, where another user could have made it first)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise RuntimeError(f"{path} is not a folder of this user; remove it and run again")
    if info.st_mode & 0o022:  # made by an earlier release, under a looser umask
        path.chmod(0o700)
    return path


def _same_file(link: Path, shipped: Path) -> bool:
    """Whether `link` is the wheel's file: a symlink to it, or a copy of the same size
    (where the file system has no symlinks)."""
    if link.is_symlink():
        return link.resolve() == shipped.resolve()
    return link.is_file() and link.stat().st_size == shipped.stat().st_size


def create_table_from_arrow(
    con: duckdb.DuckDBPyConnection, name: str, table: pa.Table, scratch: Path
) -> None:
    """`CREATE TABLE name` with `table`'s rows, handed over as a Parquet file in `scratch`
    rather than as a Python object: the first scan of any Python object makes DuckDB import
    pandas (~0.25 s of a daily run) to check whether it is a data frame. Used for small
    tables (the calendar, the schema of an empty lake table)."""
    scratch.mkdir(parents=True, exist_ok=True)
    path = scratch / f"arrow-{uuid.uuid4().hex}.parquet"
    pq.write_table(table, path)
    try:
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM read_parquet({quote(str(path))})")
    finally:
        path.unlink(missing_ok=True)


def load_extension(con: duckdb.DuckDBPyConnection, name: str) -> None:
    con.execute(f"LOAD '{extension_file(name)}'")


def connect(
    memory_limit: str | None = None, temp_directory: Path | None = None
) -> duckdb.DuckDBPyConnection:
    # (`LOAD` only ever names an `extension_file`: see the module docstring)
    con = duckdb.connect(":memory:", config={"allow_unsigned_extensions": True})
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    if temp_directory is not None:
        temp_directory.mkdir(parents=True, exist_ok=True)
        con.execute(f"SET temp_directory = '{temp_directory}'")
    con.execute("SET preserve_insertion_order = false")
    return con


def quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def libpq_dsn(url: str | URL) -> str:
    """The libpq connection string DuckDB's postgres extension takes for a SQLAlchemy URL;
    values are quoted, so a password with a space or a quote survives."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)  # (a URL already parsed is taken as it is)
    parts = {
        "host": parsed.host,
        "port": parsed.port,
        "user": parsed.username,
        "password": parsed.password,
        "dbname": parsed.database,
    }
    return " ".join(f"{k}={_libpq_value(v)}" for k, v in parts.items() if v not in (None, ""))


def _libpq_value(value: object) -> str:
    escaped = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def mysql_dsn(url: str) -> str:
    """The connection string DuckDB's mysql extension takes for a SQLAlchemy URL."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    parts = {
        "host": parsed.host,
        "port": parsed.port,
        "user": parsed.username,
        "passwd": parsed.password,
        "database": parsed.database,
    }
    return " ".join(f"{k}={v}" for k, v in parts.items() if v not in (None, ""))


def url_backend(url: str) -> str:
    """The database of a SQLAlchemy URL (`sqlite`, `postgresql`, `mysql`...), as its
    `get_backend_name()` gives it."""
    return url.partition(":")[0].partition("+")[0]


def sqlite_database(url: str) -> str | None:
    """The file of a `sqlite://` URL, as SQLAlchemy's `make_url(url).database` gives it, without
    importing SQLAlchemy (a daily run on SQLite needs nothing else from it)."""
    rest = url.partition("://")[2]
    if not rest.startswith("/"):
        return None
    return unquote(rest[1:].partition("?")[0]) or None


def sqlite_store(url: str) -> Path:
    """The existing file of the SQLite store at `url`; FileNotFoundError when there is none."""
    database = sqlite_database(url)
    if not database or database == ":memory:" or not Path(database).is_file():
        raise FileNotFoundError(
            f"operational SQLite store {database!r} not found; run `shelfwise init` or "
            "set SHELFWISE_DATABASE_URL"
        )
    return Path(database)


def attach_source(con: duckdb.DuckDBPyConnection, url: str, alias: str = "src") -> str:
    """Attach the operational store READ-ONLY; returns the backend (sqlite, postgres, mysql).

    SQLite is attached with every column as text (`sqlite_all_varchar`): SQLite does not enforce
    declared types, so a single stray value would otherwise fail the whole scan. Extraction
    casts instead, and keeps what does not fit. The setting is made for the whole database, so
    that the cursors of threads reading side by side (connections of their own) have it too.
    """
    if url_backend(url) == "sqlite":
        database = sqlite_store(url)
        load_extension(con, "sqlite")
        con.execute("SET GLOBAL sqlite_all_varchar = true")
        con.execute(f"ATTACH {quote(str(database.resolve()))} AS {alias} (TYPE sqlite, READ_ONLY)")
        return "sqlite"
    # Other stores pay for importing SQLAlchemy (~0.15 s) to parse their URLs.
    from sqlalchemy.engine import make_url

    from shelfwise.store.db import normalize_url

    parsed = make_url(normalize_url(url))
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        load_extension(con, "postgres")
        con.execute(f"ATTACH {quote(libpq_dsn(url))} AS {alias} (TYPE postgres, READ_ONLY)")
        return "postgres"
    if backend in ("mysql", "mariadb"):
        load_extension(con, "mysql")
        con.execute(f"ATTACH {quote(mysql_dsn(url))} AS {alias} (TYPE mysql, READ_ONLY)")
        return "mysql"
    raise ValueError(
        f"operational store URL {parsed.render_as_string(hide_password=True)!r}: the pipeline "
        "reads SQLite, PostgreSQL or MySQL/MariaDB"
    )


def source_query(backend: str, alias: str, sql: str) -> str:
    """A DuckDB table expression that runs `sql` inside the source database itself, so its
    indexes serve the watermark filter (DuckDB's scanners would read the whole table)."""
    return f"{backend}_query({quote(alias)}, {quote(sql)})"
