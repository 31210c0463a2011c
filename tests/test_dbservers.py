"""The throwaway PostgreSQL and MariaDB servers the suite runs against (tests/dbservers.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tests import dbservers
from tests.dbservers import RunningServer, ServerUnavailable


@contextmanager
def connect(url: str) -> Iterator[Connection]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def listening_addresses(port: int) -> set[str]:
    """The local addresses with a TCP socket listening on ``port`` (from /proc/net/tcp*)."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        lines = Path(table).read_text().splitlines()[1:]
        for line in lines:
            fields = line.split()
            address, port_hex = fields[1].rsplit(":", 1)
            if fields[3] != "0A" or int(port_hex, 16) != port:  # 0A = LISTEN
                continue
            if len(address) == 8:  # IPv4, little-endian hex
                found.add(".".join(str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0)))
            else:
                found.add(f"ipv6:{address}")
    return found


def assert_isolated(server: RunningServer) -> None:
    url_a = server.create_database("shelfwise_iso_a")
    url_b = server.create_database("shelfwise_iso_b")
    try:
        assert url_a != url_b
        with connect(url_a) as conn:
            conn.execute(sa.text("CREATE TABLE only_in_a (id INTEGER PRIMARY KEY)"))
            conn.execute(sa.text("INSERT INTO only_in_a (id) VALUES (1)"))
            conn.commit()
        with connect(url_b) as conn:
            assert sa.inspect(conn).get_table_names() == []
        with connect(url_a) as conn:
            assert sa.inspect(conn).get_table_names() == ["only_in_a"]
        # create_database always gives an empty database, even for a name used before
        url_a_again = server.create_database("shelfwise_iso_a")
        with connect(url_a_again) as conn:
            assert sa.inspect(conn).get_table_names() == []
    finally:
        server.drop_database("shelfwise_iso_a")
        server.drop_database("shelfwise_iso_b")


# --------------------------------------------------------------------------------------
# PostgreSQL


@pytest.mark.postgres
def test_postgres_runs_a_query(postgres_server: RunningServer) -> None:
    assert postgres_server.url.startswith("postgresql+psycopg://postgres@127.0.0.1:")
    assert postgres_server.url.endswith("/shelfwise_test")
    with connect(postgres_server.url) as conn:
        version = conn.execute(sa.text("select version()")).scalar_one()
        database = conn.execute(sa.text("select current_database()")).scalar_one()
    assert "PostgreSQL" in version
    assert database == "shelfwise_test"


@pytest.mark.postgres
def test_postgres_listens_on_loopback_only(postgres_server: RunningServer) -> None:
    with connect(postgres_server.url) as conn:
        assert conn.execute(sa.text("select host(inet_server_addr())")).scalar_one() == (
            "127.0.0.1"
        )
        assert conn.execute(sa.text("show listen_addresses")).scalar_one() == "127.0.0.1"
        assert conn.execute(sa.text("show unix_socket_directories")).scalar_one() == ""
    assert listening_addresses(postgres_server.port) == {"127.0.0.1"}


@pytest.mark.postgres
def test_postgres_is_tuned_for_tests(postgres_server: RunningServer) -> None:
    with connect(postgres_server.url) as conn:

        def show(name: str) -> str:
            return str(conn.execute(sa.text(f"show {name}")).scalar_one())

        assert show("fsync") == "off"
        assert show("synchronous_commit") == "off"
        assert show("full_page_writes") == "off"
        assert show("max_connections") == "200"
        assert show("server_encoding") == "UTF8"
        assert show("timezone") == "UTC"


@pytest.mark.postgres
def test_postgres_url_is_a_fresh_empty_database(postgres_url: str) -> None:
    assert postgres_url.startswith("postgresql+psycopg://postgres@127.0.0.1:")
    assert "/shelfwise_t" in postgres_url
    with connect(postgres_url) as conn:
        assert sa.inspect(conn).get_table_names() == []
        conn.execute(sa.text("CREATE TABLE scratch (id INTEGER)"))
        conn.commit()


@pytest.mark.postgres
def test_postgres_databases_are_isolated(postgres_server: RunningServer) -> None:
    assert_isolated(postgres_server)


# --------------------------------------------------------------------------------------
# MariaDB


@pytest.mark.mysql
def test_mariadb_runs_a_query(mariadb_server: RunningServer) -> None:
    assert mariadb_server.url.startswith("mysql+pymysql://shelfwise:shelfwise@127.0.0.1:")
    assert mariadb_server.url.endswith("/shelfwise_test?charset=utf8mb4")
    with connect(mariadb_server.url) as conn:
        version = conn.execute(sa.text("select version()")).scalar_one()
        database = conn.execute(sa.text("select database()")).scalar_one()
        user = conn.execute(sa.text("select current_user()")).scalar_one()
    assert "MariaDB" in version
    assert database == "shelfwise_test"
    assert user == "shelfwise@127.0.0.1"


@pytest.mark.mysql
def test_mariadb_listens_on_loopback_only(mariadb_server: RunningServer) -> None:
    with connect(mariadb_server.url) as conn:
        assert conn.execute(sa.text("select @@bind_address")).scalar_one() == "127.0.0.1"
        assert conn.execute(sa.text("select @@port")).scalar_one() == mariadb_server.port
    assert listening_addresses(mariadb_server.port) == {"127.0.0.1"}


@pytest.mark.mysql
def test_mariadb_is_tuned_for_tests(mariadb_server: RunningServer) -> None:
    with connect(mariadb_server.url) as conn:

        def var(name: str) -> str:
            return str(conn.execute(sa.text(f"select @@{name}")).scalar_one())

        assert var("innodb_flush_log_at_trx_commit") == "2"
        assert var("innodb_buffer_pool_size") == str(256 * 1024 * 1024)
        assert var("log_bin") == "0"
        assert var("max_connections") == "200"
        assert var("character_set_server") == "utf8mb4"
        assert var("tx_isolation") == "REPEATABLE-READ"  # the server default, not changed


@pytest.mark.mysql
def test_mariadb_url_is_a_fresh_empty_database(mariadb_url: str) -> None:
    assert mariadb_url.startswith("mysql+pymysql://shelfwise:shelfwise@127.0.0.1:")
    assert mariadb_url.endswith("?charset=utf8mb4")
    with connect(mariadb_url) as conn:
        assert sa.inspect(conn).get_table_names() == []
        conn.execute(sa.text("CREATE TABLE scratch (id INTEGER)"))
        conn.commit()


@pytest.mark.mysql
def test_mariadb_databases_are_isolated(mariadb_server: RunningServer) -> None:
    assert_isolated(mariadb_server)


@pytest.mark.mysql
def test_mariadb_user_can_create_shelfwise_databases(mariadb_server: RunningServer) -> None:
    with connect(mariadb_server.url) as conn:
        conn.execute(sa.text("CREATE DATABASE shelfwise_made_by_test"))
    try:
        with connect(mariadb_server.url_for("shelfwise_made_by_test")) as conn:
            conn.execute(sa.text("CREATE TABLE t (id INTEGER)"))
            assert sa.inspect(conn).get_table_names() == ["t"]
    finally:
        mariadb_server.drop_database("shelfwise_made_by_test")


# --------------------------------------------------------------------------------------
# without servers


def test_missing_postgres_names_the_install_script(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHELFWISE_PG_BINDIR", str(tmp_path / "no-such-dir"))
    with pytest.raises(ServerUnavailable, match=r"scripts/install-system-deps\.sh") as info:
        dbservers.start_postgres(tmp_path)
    assert "`postgres`" in str(info.value)


def test_missing_mariadb_names_the_install_script(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dbservers, "find_mariadb_binaries", lambda: None)
    with pytest.raises(ServerUnavailable, match=r"scripts/install-system-deps\.sh") as info:
        dbservers.start_mariadb(tmp_path)
    assert "mariadb-server" in str(info.value)


@pytest.mark.parametrize("name", ["", "Upper", "1starts_with_digit", "has-dash", "x" * 64, "a;b"])
def test_database_names_are_validated(name: str) -> None:
    with pytest.raises(ValueError, match="invalid database name"):
        dbservers._check_name(name)


def test_free_port_is_bindable() -> None:
    port = dbservers.find_free_port()
    assert 1024 <= port <= 65535
