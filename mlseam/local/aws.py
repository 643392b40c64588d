"""An AWS emulator (moto) serving HTTP on host:port from a thread of this process."""

import logging
import socket
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server

from mlseam.local.server import Server

logger = logging.getLogger(__name__)

_START_TIMEOUT_S = 10.0


class _SerialMotoServer(ThreadedMotoServer):
    """Moto's threaded server, with each request applied to the emulated state under one lock.

    Moto's backends hold no locks, so two concurrent conditional writes (DynamoDB's
    ConditionExpression, an atomic ADD, S3's If-None-Match) could both pass their check.
    AWS makes those atomic; the emulator must too, or race tests would prove nothing.
    SQS long polls are the exception: a ReceiveMessage waiting for messages would otherwise
    stall every other request (an API queueing a batch included) for its whole wait. SQS
    delivers at least once anyway, which is all its consumers may rely on.
    """

    def _server_entry(self) -> None:
        app = DomainDispatcherApplication(create_backend_app)
        lock = threading.Lock()

        def serial(environ: Any, start_response: Any) -> list[bytes]:
            if environ.get("HTTP_X_AMZ_TARGET") == "AmazonSQS.ReceiveMessage":
                return list(app(environ, start_response))
            with lock:
                return list(app(environ, start_response))

        self._server = make_server(self._ip_address, self._port, serial, True, request_handler=MotoRequestHandler)
        self._server_ready_event.set()
        self._server.serve_forever()


class LocalAws(Server):
    """Moto's multi-service server; its state lives in this process and is shared by every LocalAws in it."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.port = port
        self.host = host
        self._server: ThreadedMotoServer | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        if self._server is not None:
            return
        self._check_port_free()
        # werkzeug logs every emulated AWS call at INFO; that drowns the stack's own output.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        server = _SerialMotoServer(ip_address=self.host, port=self.port, verbose=False)
        # ThreadedMotoServer.start() waits forever if its thread fails to bind, so wait for it from the side.
        starter = threading.Thread(target=server.start, name="mlseam-moto-start", daemon=True)
        starter.start()
        starter.join(_START_TIMEOUT_S)
        if starter.is_alive():
            raise RuntimeError(
                f"moto did not start listening on {self.host}:{self.port} within {_START_TIMEOUT_S:.0f}s"
            )
        self._server = server
        try:
            self._wait_until_answering()
        except BaseException:
            self.stop()
            raise
        logger.info("moto ready at %s", self.endpoint_url)

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop()  # returns once the listening socket is closed

    def _check_port_free(self) -> None:
        """Fail fast with a clear error instead of the silent hang above when the port is taken."""
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            # Same option werkzeug sets, so a port in TIME_WAIT counts as free for us too.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((self.host, self.port))
            except OSError as err:
                raise RuntimeError(f"cannot start moto on {self.host}:{self.port}: {err.strerror}") from None

    def _wait_until_answering(self) -> None:
        # No proxies: an HTTP(S)_PROXY in the environment must not intercept a loopback request.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        deadline = time.monotonic() + _START_TIMEOUT_S
        while True:
            try:
                with opener.open(f"{self.endpoint_url}/moto-api/data.json", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"moto on {self.endpoint_url} did not answer within {_START_TIMEOUT_S:.0f}s")
            time.sleep(0.05)
