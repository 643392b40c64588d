"""Commands on a service's model versions: retrain, promote, approve, reject, rollback and status."""

from __future__ import annotations

from typing import Annotated

import typer

from mlseam.cli.console import out, user_errors
from mlseam.cli.context import ByOption, ServiceArg, load_context
from mlseam.manifest import load_service


@user_errors
def retrain_command(
    service: ServiceArg,
    force: Annotated[bool, typer.Option("--force", help="fit a candidate even if nothing changed")] = False,
) -> None:
    """Fit a candidate, compare it with the champion on the same holdout, promote if better.

    A candidate is fitted when examples arrived or the model (params, model source, code version)
    changed since the champion was trained, or with --force; otherwise nothing is fitted and no
    version is added. Under the `approve` promotion policy (service.yaml `promotion`, per
    MLSEAM_ENVIRONMENT) a winner is left pending for `mlseam approve`. Exit code: 0 promoted,
    pending, champion kept or nothing to fit, 3 refused by a quality
    gate, 4 failed, 5 champion kept but it could not be evaluated on the holdout (its artifact or
    code is broken: look, or roll back).
    """
    from mlseam.training import Retrainer

    settings, stores, loaded = load_context(service)
    assert loaded is not None  # noqa: S101 - a service was named
    when = loaded.manifest.retrain_when
    shadowed = loaded.manifest.shadow.auto_after_shadow
    wants = when is not None and (when.live_worse_by is not None or when.drift)
    if (wants or shadowed) and stores.predictions is not None:
        from mlseam.cli.monitoring import monitor_with

        # retrain_when reads what the monitor measured, and a version waiting in shadow is settled by
        # it: measure now, so the decision is current.
        monitor_with(stores, loaded)
    outcome = Retrainer.for_settings(loaded, stores, settings).run(force=force)
    out().print(outcome.summary, markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(outcome.exit_code)


@user_errors
def promote_command(
    service: ServiceArg,
    version: Annotated[str, typer.Argument(help="version to make champion, e.g. v3")],
    reason: Annotated[str, typer.Option(help="why, kept in the history")] = "manual promotion",
    by: ByOption = None,
) -> None:
    """Make a stored version the champion (its artifact digest is checked first)."""
    from mlseam.training.promotion import current_actor, promote

    settings, stores, _ = load_context()
    load_service(service, settings.services_dir)
    actor = by or current_actor()
    champion = promote(
        stores.registry, stores.artifacts, service, version, reason=reason, actor=actor, events=stores.events
    )
    out().print(f"{service}: champion is now {champion.version} (revision {champion.revision})")


@user_errors
def approve_command(
    service: ServiceArg,
    version: Annotated[str, typer.Argument(help="the pending version to make champion, e.g. v3")],
    by: ByOption = None,
) -> None:
    """Make the latest pending version champion, if the champion it was compared with still is.

    Refused (exit code 1, one line saying what to do) for a version that is not pending, not the
    latest pending one, or whose comparison is stale (the champion moved since).
    """
    from mlseam.status import shadow_lines
    from mlseam.training.promotion import approve, current_actor

    settings, stores, _ = load_context()
    loaded = load_service(service, settings.services_dir)
    # The evidence the approver acts on: the challenger against the champion on live requests.
    for line in shadow_lines(loaded, stores):
        out().print(line, markup=False, highlight=False, soft_wrap=True)
    actor = by or current_actor()
    champion = approve(stores.registry, stores.artifacts, service, version, actor=actor, events=stores.events)
    out().print(f"{service}: approved, champion is now {champion.version} (revision {champion.revision})")


@user_errors
def reject_command(
    service: ServiceArg,
    version: Annotated[str, typer.Argument(help="the pending version to turn down, e.g. v3")],
    reason: Annotated[str, typer.Option(help="why, kept with the version")],
    by: ByOption = None,
) -> None:
    """Turn a pending version down: it is kept, marked rejected, and never served."""
    from mlseam.training.promotion import current_actor, reject

    settings, stores, _ = load_context()
    load_service(service, settings.services_dir)
    actor = by or current_actor()
    record = reject(stores.registry, service, version, reason=reason, actor=actor, events=stores.events)
    out().print(f"{service}: {record.version} rejected")


@user_errors
def rollback_command(
    service: ServiceArg,
    reason: Annotated[str, typer.Option(help="why, kept in the history")] = "manual rollback",
    by: ByOption = None,
) -> None:
    """Return the champion to the previous one; the version left is not rolled back to again unless re-promoted."""
    from mlseam.training.promotion import current_actor, rollback

    settings, stores, _ = load_context()
    load_service(service, settings.services_dir)
    actor = by or current_actor()
    champion = rollback(stores.registry, stores.artifacts, service, reason=reason, actor=actor, events=stores.events)
    out().print(f"{service}: rolled back, champion is now {champion.version} (revision {champion.revision})")


@user_errors
def status_command(
    service: Annotated[str | None, typer.Argument(help="show this service's version history")] = None,
) -> None:
    """Every service with its champion; with a service name, its version and champion history."""
    from mlseam.status import champion_moves_table, history_table, overview_table, pending_line, shadow_lines

    settings, stores, _ = load_context()
    if service is None:
        out().print(overview_table(settings, stores))
        return
    loaded = load_service(service, settings.services_dir)
    out().print(history_table(loaded, stores, width=out().width))
    out().print(champion_moves_table(loaded, stores))
    pending = pending_line(service, stores.registry.list_versions(service))
    for line in [*shadow_lines(loaded, stores), *([pending] if pending is not None else [])]:
        out().print(line, markup=False, highlight=False, soft_wrap=True)
