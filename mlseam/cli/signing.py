"""``mlseam sign``: sign the versions stored before artifacts were signed, so the APIs load them again."""

from __future__ import annotations

from typing import Annotated

import typer

from mlseam.cli.console import err, out, user_errors
from mlseam.cli.context import ServiceArg, load_context
from mlseam.errors import UntrustedArtifactError


@user_errors
def sign_command(
    service: ServiceArg,
    versions: Annotated[list[str] | None, typer.Argument(help="versions to sign (default: every unsigned one)")] = None,
) -> None:
    """Sign unsigned versions with the KMS signing key after checking their sha256 and their pickle's globals.

    Only the retrain role may sign in AWS: run it as the service's retrain task with the command
    overridden (see infra/README.md). A version whose signature fails is never signed over.
    Exit code: 0 all signed (or already), 1 a version refused or a store error.
    """
    from mlseam.runtime.signing import sign_version, unsigned_versions

    _, stores, _ = load_context(service)
    names = versions or unsigned_versions(stores.registry, service)
    if not names:
        out().print(f"{service}: every version with an artifact is signed")
    refused = 0
    for version in names:
        try:
            line = sign_version(stores.registry, stores.artifacts, service, version)
        except UntrustedArtifactError as exc:
            err().print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
            refused += 1
            continue
        out().print(line, markup=False, highlight=False, soft_wrap=True)
    if refused:
        raise typer.Exit(1)
