"""Artifact digests are signed by the trusted key; anything else, or nothing, is refused before unpickling."""

from __future__ import annotations

import base64
import logging

import pytest

from mlseam.artifacts import ArtifactTrust, InMemorySigner, KmsSigner, Signature, Signer, build_trust, sha256_of
from mlseam.artifacts.signing import create_signing_key
from mlseam.aws import aws_client
from mlseam.errors import ConfigError, UntrustedArtifactError
from mlseam.settings import Settings

DIGEST = sha256_of(b"model bytes")
OTHER = sha256_of(b"other model bytes")


@pytest.fixture(params=["memory", pytest.param("kms", marks=pytest.mark.integration)])
def signer(request: pytest.FixtureRequest) -> Signer:
    if request.param == "memory":
        return InMemorySigner()
    settings: Settings = request.getfixturevalue("settings")
    trust = build_trust(settings)
    return trust.signer


def test_a_signature_verifies_for_its_digest_only(signer: Signer) -> None:
    signature = signer.sign(DIGEST)
    assert signer.is_valid(DIGEST, signature)
    assert not signer.is_valid(OTHER, signature)


def test_garbage_and_empty_signatures_are_invalid_not_errors(signer: Signer) -> None:
    key_id = signer.sign(DIGEST).key_id
    assert not signer.is_valid(DIGEST, Signature("not base64 at all!", key_id))
    assert not signer.is_valid(DIGEST, Signature("", key_id))
    assert not signer.is_valid(
        DIGEST, Signature(base64.b64encode(b"\x30\x06\x02\x01\x01\x02\x01\x01").decode(), key_id)
    )


def test_kms_signs_with_the_local_stacks_key_recording_its_arn(settings: Settings) -> None:
    signature = build_trust(settings).signer.sign(DIGEST)
    kms = aws_client(settings, "kms")
    assert signature.key_id == kms.describe_key(KeyId=settings.signing_key_id)["KeyMetadata"]["Arn"]
    assert signature.key_id.startswith("arn:aws:kms:")


def test_a_signature_by_another_kms_key_is_refused(settings: Settings) -> None:
    # given: a second asymmetric key in the same KMS, as an attacker's or a retired key would be
    kms = aws_client(settings, "kms")
    other = KmsSigner(kms, create_signing_key(kms, "alias/mlseam-test-another-signer"))
    forged = other.sign(DIGEST)
    # then: the trusted key does not accept it
    trust = build_trust(settings)
    assert not trust.signer.is_valid(DIGEST, forged)
    with pytest.raises(UntrustedArtifactError, match="is not a signature of its sha256"):
        trust.check("svc v1", DIGEST, forged)


def test_a_version_without_a_signature_is_refused_naming_the_command_that_signs_it() -> None:
    with pytest.raises(UntrustedArtifactError) as refused:
        ArtifactTrust().check("digits v3", DIGEST, None)
    message = str(refused.value)
    assert "digits v3 has no signature" in message
    assert "`mlseam sign digits v3`" in message and "MLSEAM_UNSIGNED_ARTIFACTS=allow" in message


def test_unsigned_versions_may_be_allowed_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        ArtifactTrust(unsigned="allow").check("digits v3", DIGEST, None)
    assert "digits v3 has no signature; loading it because MLSEAM_UNSIGNED_ARTIFACTS=allow" in caplog.text


def test_allowing_unsigned_versions_still_refuses_a_wrong_signature() -> None:
    trust = ArtifactTrust(unsigned="allow")
    with pytest.raises(UntrustedArtifactError, match="is not a signature of its sha256"):
        trust.check("digits v3", DIGEST, trust.signer.sign(OTHER))


def test_signing_without_a_key_is_a_config_error_naming_the_setting() -> None:
    with pytest.raises(ConfigError, match="MLSEAM_SIGNING_KEY_ID is not set"):
        KmsSigner(client=None, key_id=None).sign(DIGEST)


def test_outside_the_local_stack_the_signing_key_has_no_default() -> None:
    assert Settings(environment="dev", database_url="postgresql://db/mlseam").signing_key_id is None
    assert Settings(environment="local").signing_key_id == "alias/mlseam-local-artifact-signing"


def test_a_registry_digest_that_is_not_a_sha256_is_refused() -> None:
    trust = ArtifactTrust()
    with pytest.raises(UntrustedArtifactError, match="is not a sha256 digest"):
        trust.check("digits v3", "zz" * 32, trust.signer.sign(DIGEST))
