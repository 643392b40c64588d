"""Platform configuration from ``MLSEAM_*`` environment variables, built once by ``get_settings()``."""

from __future__ import annotations

import logging
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent

# The local stack listens on these ports, so a CLI in a second terminal finds it with no setup.
LOCAL_POSTGRES_PORT = 54329
LOCAL_AWS_PORT = 45660
LOCAL_DATABASE_URL = f"postgresql://postgres@127.0.0.1:{LOCAL_POSTGRES_PORT}/mlseam"
LOCAL_AWS_ENDPOINT_URL = f"http://127.0.0.1:{LOCAL_AWS_PORT}"
LOCAL_SIGNING_KEY_ID = "alias/mlseam-local-artifact-signing"
LOCAL_EVENTS_TOPIC = "mlseam-local-events"
# The account id the AWS emulator (moto) gives every resource: the local events topic's ARN is known in advance.
LOCAL_ACCOUNT_ID = "123456789012"

# The coalescing settings' former names, still read with a one-line warning naming the new one;
# apart from these, MLSEAM_BATCH_* names batch-job settings only.
RENAMED_ENV = {
    "MLSEAM_BATCHING": "MLSEAM_COALESCE",
    "MLSEAM_BATCH_MAX_ROWS": "MLSEAM_COALESCE_MAX_ROWS",
    "MLSEAM_BATCH_MAX_WAIT_MS": "MLSEAM_COALESCE_MAX_WAIT_MS",
    "MLSEAM_BATCH_GATHER_MS": "MLSEAM_COALESCE_GATHER_MS",
}
ENV_PREFIX = "MLSEAM_"

Environment = Literal["local", "dev", "prod"]
"""Where a process runs (``MLSEAM_ENVIRONMENT``); a service's promotion policy is set per environment."""

logger = logging.getLogger(__name__)


class RenamedEnvSource(PydanticBaseSettingsSource):
    """Reads the settings' former environment names, below the current ones, warning about each."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads the few former names itself

    def __call__(self) -> dict[str, Any]:
        environ = {name.upper(): value for name, value in os.environ.items()}
        values: dict[str, Any] = {}
        for old, new in RENAMED_ENV.items():
            if old not in environ:
                continue
            if new in environ:
                logger.warning("%s is deprecated and ignored: %s is set; unset %s", old, new, old)
                continue
            logger.warning("%s is deprecated: set %s instead", old, new)
            values[new.removeprefix(ENV_PREFIX).lower()] = environ[old]
        return values


class Settings(BaseSettings):
    """Everything the platform reads from its environment; tests build their own instance."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    environment: Environment = "local"
    services_dir: Path = REPO_ROOT / "services"
    local_dir: Path = REPO_ROOT / ".local"

    database_url: str | None = None
    database_secret_id: str | None = Field(
        default=None, description="Secrets Manager id of a JSON secret with username and password (RDS-managed)"
    )
    aws_endpoint_url: str | None = Field(default=None, description="unset in AWS: the SDK's default endpoint")
    aws_region: str = "eu-west-1"
    registry_table: str = "mlseam-registry-local"
    artifacts_bucket: str = "mlseam-artifacts-local"
    artifacts_prefix: str = "artifacts"
    signing_key_id: str | None = Field(
        default=None, description="KMS key (id, ARN or alias) that signs artifact digests; the local stack's locally"
    )
    unsigned_artifacts: Literal["refuse", "allow"] = Field(
        default="refuse", description="what loading does with a version that has no signature"
    )

    code_version: str | None = Field(default=None, description="git SHA baked into the image")
    retrain_abandoned_after_minutes: float = Field(
        default=360.0, ge=0, description="a retrain still 'running' after this is closed as failed by the next one"
    )
    log_level: str = "INFO"
    events_topic_arn: str | None = Field(
        default=None, description="SNS topic of platform events; locally the emulator's, elsewhere unset: none sent"
    )

    # Serving (`mlseam serve`, and `make run` for every service on one port).
    serve_host: str = "127.0.0.1"
    serve_port: int = Field(default=8000, ge=1, le=65535)
    max_items: int = Field(default=1000, ge=1, description="most inputs or examples in one request")
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    poll_interval_s: float = Field(default=5.0, gt=0, description="how often APIs look for a new champion")
    reload_max_backoff_s: float = Field(default=60.0, gt=0)
    pinned_cache_size: int = Field(
        default=3, ge=1, description="most versions besides the champion kept loaded for X-Model-Version requests"
    )
    # Coalescing: concurrent predict requests of one API share one model.predict call.
    coalesce: bool = Field(default=True, description="false: one predict call per request")
    coalesce_max_rows: int = Field(default=1024, ge=1, description="most rows coalesced into one predict call")
    coalesce_max_wait_ms: float = Field(default=0.0, ge=0, description="0: coalesce only what queued meanwhile")
    coalesce_gather_ms: float = Field(
        default=2.0, ge=0, description="longest wait for requests whose bodies are being read; 0: never wait"
    )
    inline_predict_ms: float = Field(
        default=5.0, ge=0, description="a model whose recent batches took less runs on the event loop; 0: never"
    )
    # Queue-style batches (`POST /<service>/v1/batches`, `mlseam worker <service>`).
    batches_table: str = "mlseam-batches-local"
    batches_bucket: str = "mlseam-batches-local"
    batches_prefix: str = "batches"
    queue_prefix: str = Field(default="mlseam-local", description="SQS queues are <prefix>-<service>-batches[-dlq]")
    batch_max_items: int = Field(default=100_000, ge=1, description="most inputs in one batch (more: 413)")
    batch_max_body_bytes: int = Field(default=512 * 1024 * 1024, ge=1024)
    batch_chunk_items: int = Field(default=1000, ge=1, description="inputs per chunk: per SQS message and predict call")
    batch_retention_days: float = Field(default=7.0, gt=0, description="batches and their results expire after this")
    batch_max_receives: int = Field(default=3, ge=1, description="attempts at a chunk before its dead-letter queue")
    batch_visibility_timeout_s: int = Field(default=60, ge=5, le=43200)
    batch_result_url_ttl_s: int = Field(default=3600, ge=60, le=604800)
    worker_wait_s: int = Field(default=20, ge=0, le=20, description="SQS long-poll wait of the worker")
    # The prediction log (API and worker; `mlseam.runtime.recorder`).
    prediction_log: bool = Field(default=True, description="false: predictions get ids but nothing is logged")
    prediction_log_share: float | None = Field(
        default=None, ge=0, le=1, description="share of requests whose outputs are logged; default 1 locally, else 0.1"
    )
    prediction_log_buffer: int = Field(default=10_000, ge=1, description="most entries waiting; more are dropped")
    prediction_log_flush_ms: float = Field(default=200.0, gt=0, description="longest wait before a bulk write")
    prediction_log_retention_days: int = Field(default=30, ge=1, description="whole day partitions older go")
    auth_required: bool | None = Field(default=None, description="default: on outside the local stack")
    api_token: SecretStr | None = None
    api_token_secret_id: str | None = Field(default=None, description="Secrets Manager id holding the token")

    @field_validator(
        "database_url",
        "database_secret_id",
        "aws_endpoint_url",
        "code_version",
        "signing_key_id",
        "api_token",
        "api_token_secret_id",
        "events_topic_arn",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _local_defaults(self) -> Settings:
        """Outside local development nothing secret or environment-specific has a default."""
        if self.environment == "local":
            if self.database_url is None:
                self.database_url = LOCAL_DATABASE_URL
            if self.aws_endpoint_url is None:
                self.aws_endpoint_url = LOCAL_AWS_ENDPOINT_URL
            if self.signing_key_id is None:
                self.signing_key_id = LOCAL_SIGNING_KEY_ID
            if self.events_topic_arn is None:
                self.events_topic_arn = f"arn:aws:sns:{self.aws_region}:{LOCAL_ACCOUNT_ID}:{LOCAL_EVENTS_TOPIC}"
        elif self.database_url is None:
            raise ValueError(f"MLSEAM_DATABASE_URL must be set when MLSEAM_ENVIRONMENT={self.environment}")
        if self.prediction_log_share is None:
            self.prediction_log_share = 1.0 if self.environment == "local" else 0.1
        if self.auth_required is None:
            self.auth_required = self.environment != "local"
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The usual sources, then the former environment names (a current name wins)."""
        return init_settings, env_settings, dotenv_settings, file_secret_settings, RenamedEnvSource(settings_cls)

    @property
    def dsn(self) -> str:
        """The PostgreSQL connection string (always set once validated)."""
        assert self.database_url is not None  # set by the validator  # noqa: S101
        return self.database_url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings()
