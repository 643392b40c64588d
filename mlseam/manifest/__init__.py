"""Services found from ``services/<name>/service.yaml``: the manifest, its task kind and model class."""

from __future__ import annotations

import importlib.util
import re
import sys
import typing
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import pydantic
import yaml
from croniter import croniter

from mlseam.contract import Model, validate_model_class
from mlseam.errors import ContractError, ManifestError, UnknownServiceError
from mlseam.manifest.describe import describe_error
from mlseam.manifest.shadow import ShadowOptions
from mlseam.settings import Environment
from mlseam.tasks import TASK_KINDS, TaskKind

MANIFEST = "service.yaml"
MAX_NAME_LENGTH = 32
"""Longest service name: it is built into AWS names (``<name>-api``, target groups of at most 32)."""
SERVICE_NAME = re.compile(rf"^[a-z][a-z0-9-]{{1,{MAX_NAME_LENGTH - 2}}}[a-z0-9]$")
"""What a service name looks like: DNS-safe, 3 to MAX_NAME_LENGTH characters."""
_DAYS_OF_WEEK = re.compile(r"^[0-7](-[0-7])?(,[0-7](-[0-7])?)*$")
_REFERENCE = re.compile(r"^(?P<file>[A-Za-z_][\w/]*\.py):(?P<attr>[A-Za-z_]\w*)$")
# Fargate's valid cpu units and, for each, the memory (MiB) range it accepts.
_FARGATE = {256: (512, 2048), 512: (1024, 4096), 1024: (2048, 8192), 2048: (4096, 16384), 4096: (8192, 30720)}


class Resources(pydantic.BaseModel):
    """Fargate size of one command's task."""

    model_config = pydantic.ConfigDict(extra="forbid")

    cpu: int = 256
    memory: int = 512

    @pydantic.model_validator(mode="after")
    def _fargate_size(self) -> Resources:
        if self.cpu not in _FARGATE:
            raise ValueError(f"cpu must be one of {sorted(_FARGATE)} (Fargate cpu units)")
        low, high = _FARGATE[self.cpu]
        if not low <= self.memory <= high:
            raise ValueError(f"memory for cpu {self.cpu} must be {low}..{high} MiB")
        return self


class ServiceResources(pydantic.BaseModel):
    """Task sizes for the ``serve``, ``worker`` and ``retrain`` commands."""

    model_config = pydantic.ConfigDict(extra="forbid")

    api: Resources = Resources()
    worker: Resources = Resources()
    retrain: Resources = Resources(cpu=1024, memory=4096)


class RetrainWhen(pydantic.BaseModel):
    """``retrain_when``: a scheduled retrain fits only when one of these holds (any left out never fires)."""

    model_config = pydantic.ConfigDict(extra="forbid")

    new_examples: int | None = pydantic.Field(
        default=None, ge=1, description="at least this many examples arrived since the champion was trained"
    )
    live_worse_by: float | None = pydantic.Field(
        default=None,
        ge=0,
        allow_inf_nan=False,
        description="the champion's live primary metric is worse than its holdout one by more than this",
    )
    drift: bool = pydantic.Field(default=False, description="the last `mlseam monitor` found the inputs drifted")

    @pydantic.model_validator(mode="after")
    def _something(self) -> RetrainWhen:
        if self.new_examples is None and self.live_worse_by is None and not self.drift:
            raise ValueError("declare at least one of new_examples, live_worse_by or drift: true (or leave it out)")
        return self


DeclaredPolicy = Literal["auto", "approve"]
"""What ``promotion`` may say per environment."""
PromotionPolicy = Literal["auto", "approve", "shadow"]
"""``auto``: a retrain's winner becomes champion; ``approve``: it waits, pending, for ``mlseam approve``;
``shadow`` (``auto`` with ``shadow.auto_after_shadow``): it waits, pending, for the live comparison."""


class Manifest(pydantic.BaseModel):
    """The fields of ``service.yaml``; read by mlseam and by Terraform."""

    model_config = pydantic.ConfigDict(extra="forbid")

    name: str
    description: str = ""
    task: str
    model: str
    inputs: dict[str, Any] = {}
    seed: str | None = None
    schedule: str = "0 3 * * *"
    holdout_fraction: float = pydantic.Field(default=0.2, gt=0.0, lt=0.5)
    min_examples: int = pydantic.Field(default=100, ge=10)
    retrain_when: RetrainWhen | None = None
    promotion: dict[Environment, DeclaredPolicy] = {}  # per environment (MLSEAM_ENVIRONMENT); default auto
    shadow: ShadowOptions = ShadowOptions()
    resources: ServiceResources = ServiceResources()
    owner: str = ""
    """Who answers for the service (a name, an e-mail, a team): the dashboard shows it."""

    def promotion_policy(self, environment: Environment) -> PromotionPolicy:
        """How a retrain's winner is promoted in ``environment``: ``auto`` unless ``promotion`` says ``approve``,
        and ``shadow`` for ``auto`` when ``shadow.auto_after_shadow`` is on."""
        declared = self.promotion.get(environment, "auto")
        return "shadow" if declared == "auto" and self.shadow.auto_after_shadow else declared

    def may_shadow(self, environment: Environment) -> bool:
        """Whether an API of this service can ever hold a challenger in ``environment``: a version waits
        (pending under ``approve`` or ``auto_after_shadow``) or candidates are shadowed for a while."""
        waits = self.promotion_policy(environment) != "auto" or self.shadow.candidates_for is not None
        return self.shadow.share > 0 and waits

    @pydantic.field_validator("name")
    @classmethod
    def _dns_safe(cls, name: str) -> str:
        if not SERVICE_NAME.match(name):
            raise ValueError(f"must be 3-{MAX_NAME_LENGTH} characters of a-z, 0-9 and '-', starting with a letter")
        return name

    @pydantic.field_validator("promotion", mode="before")
    @classmethod
    def _environments(cls, promotion: Any) -> Any:
        known = typing.get_args(Environment)
        unknown = [key for key in promotion if key not in known] if isinstance(promotion, dict) else []
        if unknown:
            raise ValueError(f"{unknown[0]!r} is not an environment; use {', '.join(known)} (as MLSEAM_ENVIRONMENT)")
        return promotion

    @pydantic.field_validator("task")
    @classmethod
    def _known_task(cls, task: str) -> str:
        if task not in TASK_KINDS:
            raise ValueError(f"unknown task kind {task!r}; use one of {', '.join(sorted(TASK_KINDS))}")
        return task

    @pydantic.field_validator("model", "seed")
    @classmethod
    def _reference(cls, ref: str | None) -> str | None:
        if ref is not None and not _REFERENCE.match(ref):
            raise ValueError(f"{ref!r} must look like 'model.py:ClassName'")
        return ref

    @pydantic.field_validator("schedule")
    @classmethod
    def _cron(cls, schedule: str) -> str:
        if len(schedule.split()) != 5 or not croniter.is_valid(schedule):
            raise ValueError(f"{schedule!r} must be a 5-field cron expression, e.g. '0 3 * * *'")
        # EventBridge Scheduler runs it in AWS; Terraform translates the fields, so keep to what translates.
        _, _, day_of_month, _, day_of_week = schedule.split()
        if day_of_week != "*" and not _DAYS_OF_WEEK.match(day_of_week):
            raise ValueError(f"{schedule!r}: write the day of week as numbers 0-7 with '-' and ',' (e.g. '1-5')")
        if day_of_week != "*" and day_of_month != "*":
            raise ValueError(f"{schedule!r}: restrict the day of month or the day of week, not both")
        return schedule


@dataclass(frozen=True)
class Service:
    """A loaded service: its folder, manifest, configured task kind and validated model class."""

    directory: Path
    manifest: Manifest
    kind: TaskKind[Any, Any]
    """The configured task kind (its name is ``manifest.task``)."""
    model_class: type[Model]

    @property
    def name(self) -> str:
        return self.manifest.name

    def new_model(self) -> Model:
        """A fresh, unfitted instance of the service's model class."""
        return self.model_class()

    def load_seed(self) -> Any:
        """The callable named by the manifest's ``seed`` (demo examples), or ManifestError."""
        if self.manifest.seed is None:
            raise ManifestError(f"{self.directory / MANIFEST}: seed: not set; this service has no demo data")
        return _load_reference(self.directory, self.manifest.seed, self.name, "seed")


def discover_services(services_dir: Path) -> list[str]:
    """Names of every folder in ``services_dir`` holding a ``service.yaml``, sorted."""
    return sorted(p.parent.name for p in services_dir.glob(f"*/{MANIFEST}"))


def read_manifest(path: Path) -> Manifest:
    """Parse and validate one ``service.yaml``; ManifestError names the file and the field."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ManifestError(f"{path}: cannot be read ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise ManifestError(f"{path}: is not valid YAML ({str(exc).splitlines()[0]})") from exc
    if not isinstance(raw, dict):
        raise ManifestError(f"{path}: must be a mapping of fields (name, task, model, ...)")
    try:
        manifest = Manifest.model_validate(raw)
    except pydantic.ValidationError as exc:
        raise ManifestError(f"{path}: {describe_error(exc.errors()[0], Manifest)}") from exc
    if manifest.name != path.parent.name:
        raise ManifestError(f"{path}: field name: {manifest.name!r} must equal its folder name {path.parent.name!r}")
    return manifest


def load_service(name: str, services_dir: Path) -> Service:
    """Read, validate and import one service; any problem is one line naming file and field."""
    path = services_dir / name / MANIFEST
    if not path.is_file():
        known = ", ".join(discover_services(services_dir)) or "none"
        raise UnknownServiceError(f"unknown service {name!r}: no {path}; known services: {known}")
    manifest = read_manifest(path)
    try:
        kind = TASK_KINDS[manifest.task].from_manifest(manifest.inputs)
    except pydantic.ValidationError as exc:
        model = TASK_KINDS[manifest.task].options_model
        raise ManifestError(f"{path}: {describe_error(exc.errors()[0], model, prefix=('inputs',))}") from exc
    cls = _load_reference(path.parent, manifest.model, name, "model")
    where = f"{path.parent / manifest.model}"
    model_class = validate_model_class(cls, where=where, task=manifest.task)
    return Service(directory=path.parent, manifest=manifest, kind=kind, model_class=model_class)


def _load_reference(directory: Path, reference: str, service: str, field: str) -> Any:
    file_name, attr = reference.split(":")
    module = _import_file(directory / file_name, _module_name(service, file_name), field)
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ContractError(
            f"{directory / MANIFEST}: field {field}: {file_name} defines no {attr!r}; "
            f"name a class (or function) that {file_name} defines"
        ) from None


def service_module_prefix(service: str) -> str:
    """How the names of the modules imported from ``service``'s folder begin (their pickles name them)."""
    # Flat (no dots): pickle imports a model's module by name, and a dotted name would need
    # its parent packages to exist.
    return f"mlseam_service_{service.replace('-', '_')}_"


def _module_name(service: str, file_name: str) -> str:
    return service_module_prefix(service) + Path(file_name).with_suffix("").as_posix().replace("/", "_")


def _import_file(path: Path, module_name: str, field: str) -> ModuleType:
    # A stable module name lets pickled models be found again when an artifact is loaded.
    if module_name in sys.modules:
        return sys.modules[module_name]
    if not path.is_file():
        raise ManifestError(f"{path.parent / MANIFEST}: field {field}: {path.name} does not exist")
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None  # noqa: S101 - a .py file always has one
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[module_name]
        raise ContractError(f"{path}: failed to import: {type(exc).__name__}: {exc}") from exc
    return module
