"""Pick a free TCP port for a local server to listen on."""

import socket


def free_port(host: str = "127.0.0.1") -> int:
    """Return a port that nothing listens on right now; another process may still take it before us."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port
