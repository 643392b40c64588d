"""LocalPostgres runs a real server on TCP whose data outlives it, and leaves no process behind."""

import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import psutil  # type: ignore[import-untyped, unused-ignore]
import psycopg2
import pytest

from mlseam.local import LocalPostgres, free_port

pytestmark = pytest.mark.integration  # starts real servers


@pytest.fixture
def pg(tmp_path: Path) -> Iterator[LocalPostgres]:
    server = LocalPostgres(tmp_path / "pgdata", free_port())
    yield server
    server.stop()


def _query(url: str, statement: str) -> list[tuple[object, ...]]:
    with closing(psycopg2.connect(url)) as conn, conn, conn.cursor() as cur:
        cur.execute(statement)
        return cur.fetchall() if cur.description else []


def _gone(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def test_data_survives_stop_and_start(pg: LocalPostgres) -> None:
    # given
    pg.start()
    _query(pg.url, "CREATE TABLE model (name text)")
    _query(pg.url, "INSERT INTO model VALUES ('resnet')")
    pg.stop()

    # when
    pg.start()

    # then
    assert _query(pg.url, "SELECT name FROM model") == [("resnet",)]


def test_url_reaches_the_database_over_tcp(pg: LocalPostgres) -> None:
    # given
    pg.start()

    # when
    rows = _query(pg.url, "SELECT current_database(), host(inet_server_addr()), inet_server_port()")

    # then
    assert pg.url == f"postgresql://postgres@127.0.0.1:{pg.port}/mlseam"
    assert rows == [("mlseam", "127.0.0.1", pg.port)]


def test_stop_leaves_no_postgres_process(tmp_path: Path) -> None:
    # given
    with LocalPostgres(tmp_path / "pgdata", free_port()) as pg:
        assert pg.pid is not None
        pids = [pg.pid, *(child.pid for child in psutil.Process(pg.pid).children(recursive=True))]

    # when
    pg.stop()  # a second stop must be harmless

    # then
    assert len(pids) > 1  # the postmaster had its background workers
    assert [pid for pid in pids if not _gone(pid)] == []


def test_start_stops_a_server_left_running_by_a_killed_process(tmp_path: Path) -> None:
    # given
    data_dir, port = tmp_path / "pgdata", free_port()
    crash = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from mlseam.local import LocalPostgres
        LocalPostgres(Path({str(data_dir)!r}), {port}).start()
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    repo = Path(__file__).parents[2]
    killed = subprocess.run([sys.executable, "-c", crash], cwd=repo, capture_output=True, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    orphan = int((data_dir / "postmaster.pid").read_text().split()[0])
    assert not _gone(orphan)

    # when
    try:
        with LocalPostgres(data_dir, port) as pg:
            rows = _query(pg.url, "SELECT 1")
    finally:
        if not _gone(orphan):
            psutil.Process(orphan).kill()

    # then
    assert rows == [(1,)]
    assert _gone(orphan)


def test_start_failure_names_the_log_file(pg: LocalPostgres) -> None:
    # given
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", pg.port))
        squatter.listen()

        # when
        with pytest.raises(RuntimeError) as failure:
            pg.start()

    # then
    assert str(pg.log_path) in str(failure.value)
    assert "could not bind" in pg.log_path.read_text()
    assert pg.pid is None


def test_initdb_failure_names_the_log_file(tmp_path: Path) -> None:
    # given
    (tmp_path / "pgdata").mkdir()
    (tmp_path / "pgdata" / "stray.txt").write_text("not a cluster")
    pg = LocalPostgres(tmp_path / "pgdata", free_port())

    # when
    with pytest.raises(RuntimeError) as failure:
        pg.start()

    # then
    assert str(pg.log_path) in str(failure.value)
    assert "is not empty" in pg.log_path.read_text()
