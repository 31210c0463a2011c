"""Throwaway PostgreSQL and MariaDB servers for the test suite.

Each server gets its own data directory under ``base_dir``, listens on a free port on
127.0.0.1 only and is tuned for speed over durability (tests never need crash safety)::

    server = start_postgres(tmp_path)
    try:
        url = server.create_database("shelfwise_demo")  # a fresh, empty database
        ...
    finally:
        server.stop()

:class:`ServerUnavailable` means the server software is not installed (install it with
``scripts/install-system-deps.sh``); :class:`ServerStartError` means it is installed but did not
start, and carries the tail of the server's log.

Running as root: PostgreSQL refuses to run as root, so its programs run as the ``postgres`` OS
user (``subprocess`` switches user; the data directory is chowned to it and placed in a fresh
directory under /tmp when ``base_dir`` is not reachable by that user). MariaDB runs as root with
``user=root``. As any other user both run as the current user.

The servers die with the process that started them (Linux parent-death signal), so an
interrupted test run does not leave servers behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import psycopg
import pymysql
from psycopg import sql

__all__ = [
    "INSTALL_HINT",
    "RunningServer",
    "ServerStartError",
    "ServerUnavailable",
    "find_free_port",
    "start_mariadb",
    "start_postgres",
]

HOST = "127.0.0.1"
DEFAULT_DATABASE = "shelfwise_test"
MARIADB_USER = "shelfwise"
MARIADB_PASSWORD = "shelfwise"
INSTALL_HINT = (
    "install it with `sudo scripts/install-system-deps.sh` (from the repository root), "
    "or `make system-deps`"
)
START_TIMEOUT = float(os.environ.get("SHELFWISE_SERVER_START_TIMEOUT", "60"))
STOP_TIMEOUT = 30.0
_PORT_ATTEMPTS = 4
_NAME_RE = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes on Linux; keep a margin
_PR_SET_PDEATHSIG = 1
_PORT_IN_USE = "address already in use"  # EADDRINUSE, as both servers log it


class ServerUnavailable(RuntimeError):
    """The server software is not installed (or not usable) on this machine."""


class ServerStartError(RuntimeError):
    """The server software is installed, but initialising or starting it failed."""


Kind = Literal["postgresql", "mariadb"]


@dataclass(eq=False)
class RunningServer:
    """A server started by :func:`start_postgres` or :func:`start_mariadb`.

    ``url`` is a SQLAlchemy URL for the database ``shelfwise_test``; :meth:`create_database`
    gives URLs of further fresh databases on the same server.
    """

    url: str
    kind: Kind
    host: str
    port: int
    database: str
    data_dir: Path
    log_path: Path
    startup_seconds: float
    _process: subprocess.Popen[bytes] = field(repr=False)
    _url_for: Callable[[str], str] = field(repr=False)
    _create: Callable[[str], None] = field(repr=False)
    _drop: Callable[[str], None] = field(repr=False)
    _stop_signal: int = field(repr=False)
    _cleanup_dirs: list[Path] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process.poll() is None

    def url_for(self, database: str) -> str:
        """The SQLAlchemy URL of ``database`` on this server (it is not created)."""
        return self._url_for(_check_name(database))

    def create_database(self, name: str) -> str:
        """Create ``name`` as a fresh, empty database (dropping any old one); return its URL.

        Names are lower case letters, digits and underscores, at most 63 characters.
        """
        name = _check_name(name)
        self._require_running()
        self._create(name)
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop ``name`` if it exists (PostgreSQL: disconnecting its sessions first)."""
        name = _check_name(name)
        self._require_running()
        self._drop(name)

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of the server's log."""
        return _tail(self.log_path, lines)

    def stop(self) -> None:
        """Shut the server down cleanly; kill it if it does not stop in time. Idempotent."""
        with self._lock:
            _terminate(self._process, self._stop_signal)
            for directory in self._cleanup_dirs:
                shutil.rmtree(directory, ignore_errors=True)
            self._cleanup_dirs.clear()

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _require_running(self) -> None:
        if not self.running:
            raise ServerStartError(
                f"the {self.kind} server on port {self.port} is not running "
                f"(exit code {self._process.returncode}); log {self.log_path}:\n"
                f"{self.log_tail()}"
            )


# --------------------------------------------------------------------------------------
# PostgreSQL


def find_postgres_bindir() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` with ``postgres`` and ``initdb``.

    Falls back to ``postgres``/``initdb`` on PATH; ``SHELFWISE_PG_BINDIR`` overrides both.
    """
    override = os.environ.get("SHELFWISE_PG_BINDIR")
    candidates: list[Path] = []
    if override:
        candidates.append(Path(override))
    else:
        versioned = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if p.is_dir()]
        candidates.extend(sorted(versioned, key=_version_key, reverse=True))
        on_path = shutil.which("postgres")
        if on_path:
            candidates.append(Path(on_path).resolve().parent)
    for bindir in candidates:
        if _is_executable(bindir / "postgres") and _is_executable(bindir / "initdb"):
            return bindir
    return None


def start_postgres(base_dir: Path) -> RunningServer:
    """Initialise and start a PostgreSQL server under ``base_dir``; create ``shelfwise_test``.

    Trust authentication for user ``postgres`` over TCP on 127.0.0.1; no Unix socket; fsync,
    synchronous_commit and full_page_writes off; max_connections 200; time zone UTC.
    Returns ``postgresql+psycopg://postgres@127.0.0.1:PORT/shelfwise_test``.
    """
    started = time.monotonic()
    bindir = find_postgres_bindir()
    if bindir is None:
        raise ServerUnavailable(
            "PostgreSQL server binaries not found (looked for `postgres` and `initdb` in "
            "/usr/lib/postgresql/*/bin and on PATH; set SHELFWISE_PG_BINDIR to use another "
            f"directory). PostgreSQL comes with the Debian package `postgresql`: {INSTALL_HINT}."
        )

    run_as: pwd.struct_passwd | None = None
    cleanup: list[Path] = []
    server_dir = Path(base_dir).resolve() / "postgres"  # the log; the data too when reachable
    server_dir.mkdir(parents=True, exist_ok=True)
    log_path = server_dir / "server.log"
    data_parent = server_dir
    if os.geteuid() == 0:
        try:
            run_as = pwd.getpwnam("postgres")
        except KeyError:
            raise ServerUnavailable(
                "PostgreSQL refuses to run as root and there is no `postgres` OS user to run it "
                f"as; the Debian package `postgresql` creates it: {INSTALL_HINT}."
            ) from None
        if not _traversable_by(server_dir, run_as):
            # e.g. pytest's basetemp under /tmp/pytest-of-root is mode 0700; the server writes
            # its log through an inherited file descriptor, so only the data has to move
            data_parent = Path(tempfile.mkdtemp(prefix="shelfwise-postgres-", dir="/tmp"))
            cleanup.append(data_parent)
    data_dir = data_parent / "data"
    if data_dir.exists():
        shutil.rmtree(data_dir)
    if run_as is not None:
        os.chown(data_parent, run_as.pw_uid, run_as.pw_gid)
    data_parent.chmod(0o700)

    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C.UTF-8"
    env["TZ"] = "UTC"
    initdb = [
        str(bindir / "initdb"),
        "--pgdata",
        str(data_dir),
        "--username",
        "postgres",
        "--auth",
        "trust",
        "--encoding",
        "UTF8",
        "--locale",
        "C.UTF-8",
        "--no-sync",
    ]
    result = subprocess.run(
        initdb,
        cwd=data_parent,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
        user=None if run_as is None else run_as.pw_uid,
        group=None if run_as is None else run_as.pw_gid,
        extra_groups=None if run_as is None else [],
    )
    if result.returncode != 0:
        _rmtree_all(cleanup)
        output = (result.stdout + result.stderr).decode(errors="replace")
        raise ServerStartError(
            f"PostgreSQL initdb failed (exit code {result.returncode}) for {data_dir}:\n"
            f"{_last_lines(output, 40)}"
        )

    def command(port: int) -> list[str]:
        settings = {
            "port": str(port),
            "listen_addresses": HOST,
            "unix_socket_directories": "",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
            "shared_buffers": "128MB",
            "timezone": "UTC",
            "log_timezone": "UTC",
        }
        argv = [str(bindir / "postgres"), "-D", str(data_dir)]
        for name, value in settings.items():
            argv += ["-c", f"{name}={value}"]
        return argv

    def ready(port: int) -> bool:
        try:
            with psycopg.connect(
                host=HOST, port=port, user="postgres", dbname="postgres", connect_timeout=2
            ):
                return True
        except psycopg.OperationalError:
            return False

    try:
        process, port = _start_with_free_port(
            "PostgreSQL",
            command,
            ready,
            log_path=log_path,
            cwd=data_parent,
            env=env,
            run_as=run_as,
            death_signal=signal.SIGINT,  # fast shutdown
        )
    except BaseException:
        _rmtree_all(cleanup)
        raise

    def admin(*statements: sql.Composed) -> None:
        with psycopg.connect(
            host=HOST, port=port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            for statement in statements:
                conn.execute(statement)

    def drop(name: str) -> None:
        admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def create(name: str) -> None:
        drop(name)
        admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def url_for(database: str) -> str:
        return f"postgresql+psycopg://postgres@{HOST}:{port}/{database}"

    server = RunningServer(
        url=url_for(DEFAULT_DATABASE),
        kind="postgresql",
        host=HOST,
        port=port,
        database=DEFAULT_DATABASE,
        data_dir=data_dir,
        log_path=log_path,
        startup_seconds=0.0,
        _process=process,
        _url_for=url_for,
        _create=create,
        _drop=drop,
        _stop_signal=signal.SIGINT,
        _cleanup_dirs=cleanup,
    )
    _finish_setup(server, lambda: create(DEFAULT_DATABASE))
    server.startup_seconds = time.monotonic() - started
    return server


# --------------------------------------------------------------------------------------
# MariaDB


def find_mariadb_binaries() -> tuple[Path, Path] | None:
    """``(mariadbd, mariadb-install-db)``, or the older ``mysqld``/``mysql_install_db`` names."""
    server = _which("mariadbd", "mysqld")
    install_db = _which("mariadb-install-db", "mysql_install_db")
    if server is None or install_db is None:
        return None
    return server, install_db


def start_mariadb(base_dir: Path) -> RunningServer:
    """Initialise and start a MariaDB server under ``base_dir``.

    Creates database ``shelfwise_test`` and user ``shelfwise``@``127.0.0.1`` (password
    ``shelfwise``) with all privileges on it and on every ``shelfwise_%`` database. InnoDB tuned
    for speed, no binary log, max_connections 200, utf8mb4, time zone UTC.
    Returns ``mysql+pymysql://shelfwise:shelfwise@127.0.0.1:PORT/shelfwise_test?charset=utf8mb4``.
    """
    started = time.monotonic()
    binaries = find_mariadb_binaries()
    if binaries is None:
        raise ServerUnavailable(
            "MariaDB server binaries not found (looked for `mariadbd` or `mysqld`, and "
            "`mariadb-install-db` or `mysql_install_db`, on PATH and in /usr/sbin, /usr/bin). "
            f"MariaDB comes with the Debian package `mariadb-server`: {INSTALL_HINT}."
        )
    mariadbd, install_db = binaries
    is_root = os.geteuid() == 0

    cleanup: list[Path] = []
    server_dir = Path(base_dir).resolve() / "mariadb"
    server_dir.mkdir(parents=True, exist_ok=True)
    data_dir = server_dir / "data"
    log_path = server_dir / "server.log"
    if data_dir.exists():
        shutil.rmtree(data_dir)
    socket_path = server_dir / "mariadbd.sock"
    if len(str(socket_path)) > _SOCKET_PATH_MAX:
        short = Path(tempfile.mkdtemp(prefix="shelfwise-mariadb-", dir="/tmp"))
        cleanup.append(short)
        socket_path = short / "mariadbd.sock"

    options = {
        "datadir": str(data_dir),
        "socket": str(socket_path),
        "pid-file": str(server_dir / "mariadbd.pid"),
        "bind-address": HOST,
        "skip-name-resolve": None,
        "skip-log-bin": None,
        "max_connections": "200",
        "innodb_buffer_pool_size": "256M",
        "innodb_flush_log_at_trx_commit": "2",
        "innodb_log_file_size": "48M",
        "innodb_doublewrite": "0",
        "character-set-server": "utf8mb4",
        "collation-server": "utf8mb4_unicode_ci",
        "default-time-zone": "+00:00",
        "performance_schema": "OFF",
    }
    if is_root:
        options["user"] = "root"  # mariadbd refuses to run as root without it
    config = server_dir / "my.cnf"
    lines = ["[mysqld]"]
    for key, value in options.items():
        lines.append(key if value is None else f"{key}={_cnf_value(value)}")
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")

    env = {k: v for k, v in os.environ.items() if not k.startswith(("MYSQL", "MARIADB"))}
    env |= {"TZ": "UTC", "LC_ALL": "C.UTF-8"}
    install = [
        str(install_db),
        f"--defaults-file={config}",
        "--auth-root-authentication-method=normal",
        "--skip-test-db",
        "--skip-name-resolve",
    ]
    if is_root:
        install.append("--user=root")
    result = subprocess.run(
        install,
        cwd=server_dir,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        _rmtree_all(cleanup)
        output = (result.stdout + result.stderr).decode(errors="replace")
        raise ServerStartError(
            f"{install_db.name} failed (exit code {result.returncode}) for {data_dir}:\n"
            f"{_last_lines(output, 40)}"
        )

    def command(port: int) -> list[str]:
        return [str(mariadbd), f"--defaults-file={config}", f"--port={port}"]

    def connect_root() -> Any:  # pymysql is untyped
        return pymysql.connect(
            unix_socket=str(socket_path),
            user="root",
            password="",
            autocommit=True,
            connect_timeout=5,
        )

    def ready(_port: int) -> bool:
        if not socket_path.exists():
            return False
        try:
            connect_root().close()
        except pymysql.err.MySQLError:
            return False
        return True

    try:
        process, port = _start_with_free_port(
            "MariaDB",
            command,
            ready,
            log_path=log_path,
            cwd=server_dir,
            env=env,
            run_as=None,
            death_signal=signal.SIGTERM,
        )
    except BaseException:
        _rmtree_all(cleanup)
        raise

    def admin(*statements: str) -> None:
        conn = connect_root()
        try:
            with conn.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)
        finally:
            conn.close()

    def url_for(database: str) -> str:
        return (
            f"mysql+pymysql://{MARIADB_USER}:{MARIADB_PASSWORD}@{HOST}:{port}/{database}"
            "?charset=utf8mb4"
        )

    accounts = [f"'{MARIADB_USER}'@'{HOST}'", f"'{MARIADB_USER}'@'localhost'"]

    def drop(name: str) -> None:
        # a test that left a transaction open would otherwise block the drop for a day
        admin("SET SESSION lock_wait_timeout = 10", f"DROP DATABASE IF EXISTS `{name}`")

    def create(name: str) -> None:
        # the wildcard grant covers shelfwise_* names; grant explicitly for any other name
        admin(
            "SET SESSION lock_wait_timeout = 10",
            f"DROP DATABASE IF EXISTS `{name}`",
            f"CREATE DATABASE `{name}`",
            *(f"GRANT ALL PRIVILEGES ON `{name}`.* TO {account}" for account in accounts),
        )

    def setup() -> None:
        for account in accounts:
            admin(
                f"CREATE USER {account} IDENTIFIED BY '{MARIADB_PASSWORD}'",
                f"GRANT ALL PRIVILEGES ON `shelfwise\\_%`.* TO {account}",
            )
        server.create_database(DEFAULT_DATABASE)
        # mariadbd keeps running (socket only) when it cannot listen on the TCP address
        pymysql.connect(
            host=HOST,
            port=port,
            user=MARIADB_USER,
            password=MARIADB_PASSWORD,
            database=DEFAULT_DATABASE,
            connect_timeout=5,
        ).close()

    server = RunningServer(
        url=url_for(DEFAULT_DATABASE),
        kind="mariadb",
        host=HOST,
        port=port,
        database=DEFAULT_DATABASE,
        data_dir=data_dir,
        log_path=log_path,
        startup_seconds=0.0,
        _process=process,
        _url_for=url_for,
        _create=create,
        _drop=drop,
        _stop_signal=signal.SIGTERM,
        _cleanup_dirs=cleanup,
    )
    _finish_setup(server, setup)
    server.startup_seconds = time.monotonic() - started
    return server


# --------------------------------------------------------------------------------------
# helpers


def find_free_port(host: str = HOST) -> int:
    """A TCP port that is free on ``host`` right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _start_with_free_port(
    label: str,
    command: Callable[[int], list[str]],
    ready: Callable[[int], bool],
    *,
    log_path: Path,
    cwd: Path,
    env: dict[str, str],
    run_as: pwd.struct_passwd | None,
    death_signal: int,
) -> tuple[subprocess.Popen[bytes], int]:
    """Start the server on a free port, retrying with another port if that one got taken."""
    for attempt in range(1, _PORT_ATTEMPTS + 1):
        port = find_free_port()
        with log_path.open("ab") as log:
            offset = log.tell()
            log.write(f"--- shelfwise: starting {label} on {HOST}:{port}\n".encode())
            log.flush()
            process = subprocess.Popen(
                command(port),
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_parent_death_signal(death_signal),
                user=None if run_as is None else run_as.pw_uid,
                group=None if run_as is None else run_as.pw_gid,
                extra_groups=None if run_as is None else [],
            )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                break
            if ready(port):
                return process, port
            if time.monotonic() > deadline:
                _terminate(process, signal.SIGKILL)
                raise ServerStartError(
                    f"{label} did not accept connections on {HOST}:{port} within "
                    f"{START_TIMEOUT:.0f} s (set SHELFWISE_SERVER_START_TIMEOUT to wait longer); "
                    f"log {log_path}:\n{_tail(log_path, 40)}"
                )
            time.sleep(0.02)
        attempt_log = _read_from(log_path, offset)
        if attempt < _PORT_ATTEMPTS and _PORT_IN_USE in attempt_log.lower():
            continue  # somebody took the port between our check and the server's bind
        raise ServerStartError(
            f"{label} exited with code {process.returncode} while starting on {HOST}:{port}; "
            f"log {log_path}:\n{_last_lines(attempt_log, 40)}"
        )
    raise AssertionError("unreachable")  # pragma: no cover


def _finish_setup(server: RunningServer, setup: Callable[[], None]) -> None:
    """Run ``setup`` on a started server; stop the server if it fails."""
    try:
        setup()
    except BaseException as exc:
        server.stop()
        if isinstance(exc, Exception):
            raise ServerStartError(
                f"{server.kind} started on port {server.port} but setting it up failed: {exc}; "
                f"log {server.log_path}:\n{server.log_tail()}"
            ) from exc
        raise


def _terminate(process: subprocess.Popen[bytes], first_signal: int) -> None:
    """Stop ``process`` with ``first_signal``, escalating to SIGKILL; reap it."""
    if process.poll() is not None:
        return
    escalation = [first_signal]
    if first_signal == signal.SIGINT:  # PostgreSQL: fast, then immediate shutdown
        escalation.append(signal.SIGQUIT)
    escalation.append(signal.SIGKILL)
    timeouts = [STOP_TIMEOUT, 10.0, 10.0]
    for sig, timeout in zip(escalation, timeouts, strict=False):
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(sig)
        try:
            process.wait(timeout=timeout)
            return
        except subprocess.TimeoutExpired:
            continue


def _parent_death_signal(sig: int) -> Callable[[], None] | None:
    """A preexec_fn making the child get ``sig`` when this process dies (Linux only).

    The kernel ties this to the *thread* that forked, so it is only used from the main thread
    (a server started from a short-lived worker thread would otherwise die with the thread).
    """
    if not sys.platform.startswith("linux"):
        return None
    if threading.current_thread() is not threading.main_thread():
        return None
    parent = os.getpid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def _traversable_by(path: Path, user: pwd.struct_passwd) -> bool:
    """Whether ``user`` can reach (search) ``path`` and every directory above it."""
    groups = {user.pw_gid, *os.getgrouplist(user.pw_name, user.pw_gid)}
    current = path
    while True:
        try:
            st = current.stat()
        except FileNotFoundError:
            current = current.parent  # will be created by us, with our umask
            continue
        if st.st_uid == user.pw_uid:
            allowed = bool(st.st_mode & stat.S_IXUSR)
        elif st.st_gid in groups:
            allowed = bool(st.st_mode & stat.S_IXGRP)
        else:
            allowed = bool(st.st_mode & stat.S_IXOTH)
        if not allowed:
            return False
        if current.parent == current:
            return True
        current = current.parent


def _which(*names: str) -> Path | None:
    search = os.pathsep.join(
        [os.environ.get("PATH", ""), "/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"]
    )
    for name in names:
        found = shutil.which(name, path=search)
        if found:
            return Path(found)
    return None


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _version_key(bindir: Path) -> tuple[int, ...]:
    parts = re.findall(r"\d+", bindir.parent.name)
    return tuple(int(p) for p in parts) or (0,)


def _check_name(name: str) -> str:
    if not _NAME_RE.fullmatch(name):
        raise ValueError(
            f"invalid database name {name!r}: use lower case letters, digits and underscores, "
            "starting with a letter or underscore, at most 63 characters"
        )
    return name


def _cnf_value(value: str) -> str:
    if any(ch in value for ch in "\n\r"):
        raise ValueError(f"option value contains a line break: {value!r}")
    if any(ch in value for ch in " \t#;'\"\\"):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value


def _rmtree_all(directories: list[Path]) -> None:
    for directory in directories:
        shutil.rmtree(directory, ignore_errors=True)


def _read_from(path: Path, offset: int) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            return fh.read().decode(errors="replace")
    except OSError:
        return ""


def _tail(path: Path, lines: int) -> str:
    try:
        size = path.stat().st_size
    except OSError:
        return f"(no log at {path})"
    return _last_lines(_read_from(path, max(0, size - 64_000)), lines)


def _last_lines(text: str, lines: int) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


if __name__ == "__main__":  # pragma: no cover - manual smoke test and timing
    base = Path(tempfile.mkdtemp(prefix="shelfwise-dbservers-"))
    found: list[RunningServer] = []
    try:
        for start in (start_postgres, start_mariadb):
            try:
                srv = start(base)
            except ServerUnavailable as error:
                print(f"unavailable: {error}")
                continue
            found.append(srv)
            print(f"{srv.kind}: {srv.url} started in {srv.startup_seconds:.2f} s")
    finally:
        for srv in found:
            t0 = time.monotonic()
            srv.stop()
            print(f"{srv.kind}: stopped in {time.monotonic() - t0:.2f} s")
        shutil.rmtree(base, ignore_errors=True)
