"""Creates ``services/<name>/`` from a task kind's templates, all at once or not at all."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from string import Template

from mlseam.errors import ConfigError, MlseamError
from mlseam.scaffold.names import check_service_name, class_name_for
from mlseam.tasks import TASK_KINDS

TEMPLATES_DIR = Path(__file__).parent / "templates"
"""One folder per task kind; adding a folder is all it takes to offer a task kind."""

_SUFFIX = ".tmpl"


def template_kinds() -> list[str]:
    """Task kinds a service can be scaffolded for: those with a template folder, sorted."""
    folders = {path.name for path in TEMPLATES_DIR.iterdir() if path.is_dir()} if TEMPLATES_DIR.is_dir() else set()
    return sorted(folders & TASK_KINDS.keys())


def render_service(name: str, task: str) -> dict[str, str]:
    """The files of a new service ``name`` of kind ``task``: file name -> rendered text.

    Raises ConfigError for a bad or reserved name, an unknown task kind or one without templates.
    """
    check_service_name(name)
    kinds = template_kinds()
    if task not in TASK_KINDS:
        raise ConfigError(f"unknown task kind {task!r}; use one of {', '.join(kinds)}")
    if task not in kinds:
        raise ConfigError(
            f"task kind {task!r} has no service template yet: add mlseam/scaffold/templates/{task}/ "
            f"or use one of {', '.join(kinds)}"
        )
    variables = {"name": name, "class_name": class_name_for(name), "title": name.replace("-", " ").capitalize()}
    return {
        path.name.removesuffix(_SUFFIX): Template(path.read_text(encoding="utf-8")).substitute(variables)
        for path in sorted((TEMPLATES_DIR / task).iterdir())
        if path.is_file() and not path.name.startswith(".")
    }


def create_service(name: str, task: str, services_dir: Path) -> Path:
    """Create ``services_dir/<name>/`` from ``task``'s templates; returns the new folder.

    Refusals are ConfigError with one line saying what to do; nothing is written then. The
    files are written to a hidden staging folder first and moved in by one rename, so a failure
    half-way leaves no partial service for the local stack to discover.
    """
    files = render_service(name, task)
    target = services_dir / name
    if not services_dir.is_dir():
        raise ConfigError(f"no services folder at {services_dir}; run from the repository root")
    if target.exists() or target.is_symlink():
        raise ConfigError(f"service {name!r} already exists at {target}; pick another name or edit that service")
    try:
        # Two levels down: discovery globs services/*/service.yaml and must not see it half-written.
        staging = Path(tempfile.mkdtemp(prefix=f".new-{name}-", dir=services_dir))
    except OSError as exc:
        raise MlseamError(f"cannot create {target}: {exc.strerror or exc}; check that the folder is writable") from exc
    try:
        built = staging / name
        built.mkdir()
        for file_name, text in files.items():
            (built / file_name).write_text(text, encoding="utf-8")
        if target.exists():
            raise ConfigError(f"service {name!r} was created meanwhile at {target}; pick another name")
        built.rename(target)
    except OSError as exc:
        raise MlseamError(f"cannot create {target}: {exc.strerror or exc}; nothing was written") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
