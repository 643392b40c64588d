"""Which version, if any, answers in shadow beside the champion: the rule the API and status share."""

from __future__ import annotations

from datetime import datetime, timedelta

from mlseam.manifest.shadow import ShadowOptions
from mlseam.registry import ModelVersion, Status, latest_pending


def select_challenger(
    versions: list[ModelVersion], champion: str | None, options: ShadowOptions, now: datetime
) -> ModelVersion | None:
    """The latest pending version; else, with ``candidates_for``, the newest candidate fitted that recently.

    ``versions`` newest first (as the registry lists them). A candidate is a version that stored an
    artifact and was kept (it did not win); once a newer version stored one, it is no longer shadowed.
    None when ``share`` is 0 or nothing qualifies.
    """
    if options.share <= 0.0:
        return None
    pending = latest_pending(versions)
    if pending is not None and pending.has_artifact:
        return pending
    if options.candidates_for is None:
        return None
    newest = next((record for record in versions if record.has_artifact), None)
    if newest is None or newest.status is not Status.KEPT or newest.version == champion or not newest.finished_at:
        return None
    finished = datetime.fromisoformat(newest.finished_at)
    return newest if now - finished <= timedelta(seconds=options.candidates_for) else None
