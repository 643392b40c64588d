"""The ``mlseam`` Typer application: every command, in the order ``mlseam --help`` lists them."""

from __future__ import annotations

import typer

from mlseam.cli import authoring, dashboard, data, examples, monitoring, processes, signing, versions

# Commands import their jobs inside: `mlseam serve` then stays free of Alembic, SQLAlchemy and
# the training code, which saves memory and start-up time in every API container.
app = typer.Typer(
    help="mlseam: retrain, promote and inspect the platform's ML services.",
    epilog=(
        "Exit codes: 0 done; 1 a store or promotion error (unreachable, not found, conflict); "
        "2 bad usage or configuration (service.yaml, model class, settings); "
        "retrain only: 3 refused by a quality gate, 4 failed, "
        "5 champion kept but it could not be evaluated."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

app.command("migrate")(data.migrate_command)
app.command("seed")(data.seed_command)
app.add_typer(examples.app, name="examples")
app.command("retrain")(versions.retrain_command)
app.command("promote")(versions.promote_command)
app.command("approve")(versions.approve_command)
app.command("reject")(versions.reject_command)
app.command("rollback")(versions.rollback_command)
app.command("sign")(signing.sign_command)
app.command("status")(versions.status_command)
app.command("monitor")(monitoring.monitor_command)
app.command("dashboard")(dashboard.dashboard_command)
app.command("serve")(processes.serve_command)
app.command("worker")(processes.worker_command)
app.command("new")(authoring.new_command)
app.command("check")(authoring.check_command)
app.command("local-stack")(processes.local_stack_command)
