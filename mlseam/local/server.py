"""The start/stop shape shared by the local stack's servers, usable as a context manager."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self


class Server(ABC):
    """Something the local stack starts and must stop again, whatever happens in between."""

    @abstractmethod
    def start(self) -> None:
        """Start and return once ready."""

    @abstractmethod
    def stop(self) -> None:
        """Stop; safe to call twice."""

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
