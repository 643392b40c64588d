"""Versions other than the champion, asked for by name (``X-Model-Version``), kept loaded in a small LRU cache."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from typing import Any

from mlseam.artifacts import ArtifactStore
from mlseam.errors import ConflictError, NotFoundError, VersionNotFoundError
from mlseam.manifest import Service
from mlseam.predictionlog import new_prediction_ids
from mlseam.registry import Registry, version_name, version_number
from mlseam.runtime.loading import LoadedModel, load_version
from mlseam.runtime.metrics import PINNED_VERSIONS
from mlseam.runtime.outputs import predict_outputs

log = logging.getLogger("mlseam.runtime")


class PinnedVersions:
    """Former champions loaded on demand, the ``size`` most recently used kept in memory.

    Only a version that has served as champion can be pinned: pinning exists to reproduce an
    answer given earlier, never to serve a version nobody approved. Two requests for a version
    not yet loaded load it once.
    """

    def __init__(self, service: Service, *, registry: Registry, artifacts: ArtifactStore, size: int) -> None:
        self.service = service
        self.registry = registry
        self.artifacts = artifacts
        self.size = size
        self._cache: OrderedDict[str, LoadedModel] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}

    def cached(self) -> list[str]:
        """The versions held, least recently used first."""
        with self._lock:
            return list(self._cache)

    def name_of(self, requested: str) -> str:
        """``v3`` for ``v3``, ``V3`` or ``3``; NotFoundError for anything that is not a version name."""
        number = version_number(requested.strip())
        if number is None:
            raise NotFoundError(f"X-Model-Version {requested!r} is not a version name; versions look like v7")
        return version_name(number)

    def get(self, version: str) -> LoadedModel:
        """``version`` loaded (from the cache, else from the registry and S3): NotFoundError or ConflictError."""
        with self._lock:
            if version in self._cache:
                self._cache.move_to_end(version)
                return self._cache[version]
            loading = self._loading.setdefault(version, threading.Lock())
        with loading:
            try:
                return self._load_once(version)
            finally:
                with self._lock:
                    self._loading.pop(version, None)

    def _load_once(self, version: str) -> LoadedModel:
        """Load ``version`` unless a request that held its lock first already did, and cache it."""
        with self._lock:
            if version in self._cache:
                return self._cache[version]
        loaded = self._load(version)
        log.info("pinned version loaded", extra={"service": self.service.name, "version": version})
        with self._lock:
            self._cache[version] = loaded
            while len(self._cache) > self.size:
                evicted, _ = self._cache.popitem(last=False)
                log.info("pinned version evicted", extra={"service": self.service.name, "version": evicted})
            PINNED_VERSIONS.labels(self.service.name).set(len(self._cache))
        return loaded

    def _load(self, version: str) -> LoadedModel:
        name = self.service.name
        try:
            record = self.registry.get_version(name, version)
        except VersionNotFoundError:
            raise NotFoundError(f"X-Model-Version {version}: {name} has no version {version}") from None
        served = {event.to_version for event in self.registry.history(name)}
        if record.version not in served:
            raise ConflictError(
                f"X-Model-Version {version}: {name} {version} never served as champion (status "
                f"{record.status.value}); only a version that answered requests can be pinned"
            )
        if not record.has_artifact:
            raise ConflictError(f"X-Model-Version {version}: {name} {version} has no artifact left to load")
        return load_version(self.service, version, registry=self.registry, artifacts=self.artifacts)

    def predict(self, inputs: list[Any], version: str) -> tuple[list[Any], str]:
        """``(prediction_id, output)`` pairs from ``version`` (one call, outside the coalescer), and its name."""
        loaded = self.get(version)
        ids = new_prediction_ids(len(inputs))
        outputs = predict_outputs(self.service, loaded.model, inputs, ids)
        return list(zip(ids, outputs, strict=True)), loaded.version
