"""On the real local stack: versions are signed by the emulator's KMS key; only signed, allow-listed ones load."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_servers import start_api, train
from payloads import System, crafted_call, marker_code

from builders import clone_service, linear_examples, linear_service, stack_env
from mlseam.artifacts import Signature, build_trust, sha256_of
from mlseam.aws import aws_client
from mlseam.errors import UntrustedArtifactError
from mlseam.manifest import load_service
from mlseam.registry import ModelVersion, Status
from mlseam.runtime import load_version
from mlseam.settings import REPO_ROOT, Settings
from mlseam.stores import Stores, build_stores

BUNDLED = sorted(path.parent.name for path in (REPO_ROOT / "services").glob("*/service.yaml"))


def _register(stores: Stores, name: str, data: bytes, signature: Signature | None) -> str:
    """A kept version whose artifact is ``data``, with the matching sha256 and ``signature`` in the registry."""
    record = ModelVersion(service=name, number=stores.registry.allocate_version(name))
    stores.registry.create_version(record)
    stored = stores.artifacts.put(f"artifacts/{name}/{record.version}/model.pkl", data)
    record.artifact_key, record.artifact_sha256, record.artifact_size = stored.key, stored.sha256, stored.size
    if signature is not None:
        record.artifact_signature, record.artifact_signing_key = signature.value, signature.key_id
    record.status = Status.KEPT
    stores.registry.update_version(record)
    return record.version


def _load(settings: Settings, stores: Stores, name: str, version: str) -> Any:
    service = load_service(name, settings.services_dir)
    return load_version(service, version, registry=stores.registry, artifacts=stores.artifacts)


@pytest.mark.parametrize("template", BUNDLED)
def test_every_bundled_service_trains_signs_and_loads(template: str, settings: Settings, stores: Stores) -> None:
    # given: a bundled service seeded and retrained on the local stack
    name = clone_service(settings.services_dir, template)
    train(settings, stores, name)
    # then: its version carries a signature by the local stack's KMS key, and loads as the API loads it
    record = stores.registry.get_version(name, "v1")
    key_arn = aws_client(settings, "kms").describe_key(KeyId=settings.signing_key_id)["KeyMetadata"]["Arn"]
    assert record.artifact_signature and record.artifact_signing_key == key_arn
    loaded = _load(settings, stores, name, "v1")
    assert type(loaded.model).__name__ == load_service(name, settings.services_dir).model_class.__name__


def test_a_signed_reduce_payload_with_a_matching_sha256_is_refused_and_runs_nothing(
    settings: Settings, stores: Stores, tmp_path: Path
) -> None:
    # given: an os.system payload stored as a version's artifact, its sha256 in the registry and even
    # signed by the trusted key (as if the signing path itself had been abused), then made champion
    marker = tmp_path / "ran"
    name = linear_service(settings.services_dir)
    data = pickle.dumps(System(f"touch {marker}"), protocol=5)
    version = _register(stores, name, data, build_trust(settings).signer.sign(sha256_of(data)))
    stores.registry.move_champion(name, version, expected_revision=0, action="promote", reason="crafted")
    # when / then: loading refuses the global it names, before running it
    with pytest.raises(UntrustedArtifactError, match=r"its pickle names posix\.system, which is not on the allow-list"):
        _load(settings, stores, name, version)
    # and an API that finds it as champion is not ready, says why, and ran nothing either
    api = start_api(settings, [name], tmp_path, ready=False)
    try:
        body = httpx.get(api.url(f"/{name}/readyz")).json()
        for _ in range(100):
            if body.get("status") == "load failed":
                break
            body = httpx.get(api.url(f"/{name}/readyz")).json()
        assert body["status"] == "load failed" and "posix.system" in body["reason"], body
    finally:
        api.stop()
    assert not marker.exists()


def test_an_unsigned_payload_is_refused_before_unpickling(settings: Settings, stores: Stores, tmp_path: Path) -> None:
    # given: a payload in an allowed package, unsigned, with its matching sha256 in the registry
    marker = tmp_path / "ran"
    name = linear_service(settings.services_dir)
    payload = crafted_call("numpy.testing._private.utils", "runstring", marker_code(marker))
    version = _register(stores, name, payload, None)
    # when / then
    with pytest.raises(UntrustedArtifactError, match=rf"{name} {version} has no signature"):
        _load(settings, stores, name, version)
    assert not marker.exists()


def test_forged_and_mismatched_signatures_are_refused(settings: Settings, stores: Stores) -> None:
    # given: a service with two genuine, signed versions
    name = linear_service(settings.services_dir)
    kind = load_service(name, settings.services_dir).kind
    stores.examples.add(name, kind, linear_examples(60, seed=1), source="t")
    train(settings, stores, name)
    v1 = stores.registry.get_version(name, "v1")
    assert v1.artifact_signature is not None
    data = stores.artifacts.get(v1.artifact_key or "", v1.artifact_sha256 or "")
    # when: the same bytes are registered with v1's signature bit-flipped, or with the signature of other bytes
    raw = bytearray(Signature(v1.artifact_signature, "").value.encode())
    raw[10] = ord("A") if raw[10] != ord("A") else ord("B")
    flipped = Signature(raw.decode(), v1.artifact_signing_key or "")
    other = build_trust(settings).signer.sign(sha256_of(data + b"\n"))
    for signature in (flipped, other):
        version = _register(stores, name, data, signature)
        # then: neither loads, though the bytes are a genuine model's and their sha256 matches
        with pytest.raises(UntrustedArtifactError, match="is not a signature of its sha256"):
            _load(settings, stores, name, version)
    assert _load(settings, stores, name, "v1").version == "v1"


def test_unsigned_versions_load_only_when_allowed(settings: Settings, stores: Stores) -> None:
    # given: a genuine model registered without a signature, as versions were before signing
    name = linear_service(settings.services_dir)
    kind = load_service(name, settings.services_dir).kind
    stores.examples.add(name, kind, linear_examples(60, seed=1), source="t")
    train(settings, stores, name)
    v1 = stores.registry.get_version(name, "v1")
    version = _register(stores, name, stores.artifacts.get(v1.artifact_key or "", v1.artifact_sha256 or ""), None)
    # then: refused by default, loaded when MLSEAM_UNSIGNED_ARTIFACTS=allow
    with pytest.raises(UntrustedArtifactError, match="has no signature"):
        _load(settings, stores, name, version)
    allowing = build_stores(settings.model_copy(update={"unsigned_artifacts": "allow"}))
    assert _load(settings, allowing, name, version).version == version


def _mlseam(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "mlseam.cli", *args]
    return subprocess.run(command, env=stack_env(settings), capture_output=True, text=True, timeout=180)


def test_mlseam_sign_signs_versions_stored_unsigned_so_they_load_again(settings: Settings, stores: Stores) -> None:
    # given: a genuine model registered without a signature, as versions were before signing
    name = linear_service(settings.services_dir)
    kind = load_service(name, settings.services_dir).kind
    stores.examples.add(name, kind, linear_examples(60, seed=1), source="t")
    train(settings, stores, name)
    v1 = stores.registry.get_version(name, "v1")
    version = _register(stores, name, stores.artifacts.get(v1.artifact_key or "", v1.artifact_sha256 or ""), None)
    # when: an operator signs the service's unsigned versions
    signed = _mlseam(settings, "sign", name)
    # then: that version is signed by the trusted key and loads; a second run has nothing to do
    assert signed.returncode == 0, signed.stderr
    assert f"{name} {version}: signed (sha256 " in signed.stdout and "v1" not in signed.stdout
    assert _load(settings, stores, name, version).version == version
    again = _mlseam(settings, "sign", name)
    assert again.returncode == 0 and "every version with an artifact is signed" in again.stdout
    assert "already signed by the trusted key" in _mlseam(settings, "sign", name, "v1").stdout


def test_mlseam_sign_never_signs_a_pickle_naming_a_refused_global(
    settings: Settings, stores: Stores, tmp_path: Path
) -> None:
    # given: an unsigned payload with its matching sha256 in the registry
    marker = tmp_path / "ran"
    name = linear_service(settings.services_dir)
    version = _register(stores, name, pickle.dumps(System(f"touch {marker}"), protocol=5), None)
    # when
    result = _mlseam(settings, "sign", name)
    # then: refused in one line naming the global, nothing ran, nothing was signed
    assert result.returncode == 1
    assert f"error: {name} {version}: its pickle names posix.system" in result.stderr
    assert "Traceback" not in result.stderr
    assert not marker.exists()
    assert stores.registry.get_version(name, version).artifact_signature is None
