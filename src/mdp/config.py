"""Configuration from environment variables (``SECTION__KEY``) and mounted secret files.

Secrets never have defaults and never come from the command line. Each secret may be given
directly (``PG__PASSWORD``) or as a path to a mounted file (``PG__PASSWORD_FILE``), which is how
Kubernetes Secrets volumes and Docker secrets hand them over without putting them in ``env``.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from mdp.errors import ConfigError


def _read_secret_file(path: Path | None) -> SecretStr | None:
    if path is None:
        return None
    return SecretStr(path.read_text(encoding="utf-8").strip())


class S3Settings(BaseSettings):
    """Where the object store is and how to reach it."""

    model_config = SettingsConfigDict(env_prefix="S3__", extra="ignore")

    endpoint: str = "127.0.0.1:9000"
    """host:port of the S3 API, without scheme (the minio SDK's convention)."""
    secure: bool = False
    """Use HTTPS. Off by default because in-cluster traffic goes to a ClusterIP Service."""
    access_key: str | None = None
    """Access key id of the MinIO user this step runs as."""
    secret_key: SecretStr | None = None
    """Secret key; or use ``S3__SECRET_KEY_FILE``."""
    secret_key_file: Path | None = None
    """Path of a mounted file holding the secret key."""
    bucket: str = "mdp"
    """The one bucket; stages are prefixes inside it (see ``mdp.layout``)."""
    region: str | None = None
    """Region name; MinIO ignores it, some S3-compatible servers require it."""
    connect_timeout: float = Field(default=10.0, gt=0)
    """Seconds to wait for a TCP connection to the S3 endpoint."""
    read_timeout: float = Field(default=120.0, gt=0)
    """Seconds to wait for the server between two reads of one response."""
    retries: int = Field(default=3, ge=0)
    """Retries of one request on a refused connection, a timeout or a 5xx answer, with back-off
    (0.5 s doubling). When they run out, the step exits 1 with one log line: a fault, retried by
    the orchestrator."""

    @model_validator(mode="after")
    def _load_secret_file(self) -> Self:
        if self.secret_key is None:
            self.secret_key = _read_secret_file(self.secret_key_file)
        return self


class PostgresSettings(BaseSettings):
    """Where the warehouse is and which role this step connects as."""

    model_config = SettingsConfigDict(env_prefix="PG__", extra="ignore")

    host: str = "127.0.0.1"
    """Host name or address of the PostgreSQL server."""
    port: int = 5432
    """TCP port of the PostgreSQL server."""
    database: str = "warehouse"
    """Database holding the warehouse tables and the audit log."""
    user: str = "mdp"
    """Login role; the chart gives each step a role with only the rights it needs."""
    password: SecretStr | None = None
    """Password; or use ``PG__PASSWORD_FILE``."""
    password_file: Path | None = None
    """Path of a mounted file holding the password."""
    sslmode: str = "prefer"
    """libpq sslmode."""
    connect_timeout: int = Field(default=10, ge=1)
    """Seconds before a connection attempt counts as a transient fault."""
    keepalives_idle: int = Field(default=30, ge=1)
    """Seconds of silence before TCP keepalives probe the server (every 10 s, 3 probes): a
    server that vanished mid-step is noticed in about a minute instead of hanging the step."""

    @model_validator(mode="after")
    def _load_password_file(self) -> Self:
        if self.password is None:
            self.password = _read_secret_file(self.password_file)
        return self

    def conninfo(self) -> str:
        """A libpq connection string; the password is passed separately by ``connect``."""
        from psycopg.conninfo import make_conninfo

        return make_conninfo(
            host=self.host,
            port=self.port,
            dbname=self.database,
            user=self.user,
            sslmode=self.sslmode,
            connect_timeout=self.connect_timeout,
            keepalives=1,
            keepalives_idle=self.keepalives_idle,
            keepalives_interval=10,
            keepalives_count=3,
            application_name="mdp",
        )


DEFAULT_MAX_UNCOMPRESSED_BYTES = 10 * 2**30
"""The global limit on what a compressed upload or an Excel sheet may expand to (10 GiB, about
65M sales rows as CSV), for contracts that set none; ``MDP__MAX_UNCOMPRESSED_BYTES`` overrides."""


class StepSettings(BaseSettings):
    """Knobs shared by the steps."""

    model_config = SettingsConfigDict(env_prefix="MDP__", extra="ignore")

    scratch_dir: Path | None = None
    """Local directory for spooling the raw file and building Parquet before upload (an
    emptyDir in Kubernetes). Needs free space about twice the file size. Default: system temp."""
    batch_rows: int = Field(default=65_536, ge=1_024)
    """Rows per record batch: the unit of memory. Peak memory grows with it, not the file."""
    report_row_numbers: int = Field(default=20, ge=1)
    """How many offending row numbers an error report lists per rule."""
    max_uncompressed_bytes: int = Field(default=DEFAULT_MAX_UNCOMPRESSED_BYTES, ge=1)
    """Largest size a compressed upload or an Excel sheet may expand to (zip-bomb guard), for
    contracts that set no ``max_uncompressed_bytes`` of their own."""


class ContractSettings(BaseSettings):
    """Where the dataset contracts are (``mdp.contracts.registry``)."""

    model_config = SettingsConfigDict(env_prefix="CONTRACTS__", extra="ignore")

    dir: Path | None = None
    """Directory of contract files (``*.yaml``). When set it *replaces* the built-in contracts
    (what is mounted is exactly what runs), so it holds the built-ins too. Unset: the built-in
    ``sales`` and ``youtube`` contracts shipped in the package."""


class SetupSettings(BaseSettings):
    """The MinIO users ``mdp setup storage`` creates, as the chart's setup Job mounts them from
    their Secrets (``SETUP__<ROLE>_ACCESS_KEY``, ``SETUP__<ROLE>_SECRET_KEY``)."""

    model_config = SettingsConfigDict(env_prefix="SETUP__", extra="ignore")

    pipeline_access_key: str = ""
    """The steps' user (policy ``mdp-pipeline``)."""
    pipeline_secret_key: SecretStr = SecretStr("")
    generator_access_key: str = ""
    """The generator's user (policy ``mdp-generator``)."""
    generator_secret_key: SecretStr = SecretStr("")
    readonly_access_key: str = ""
    """The read-only user of people and Airflow's listing (policy ``mdp-readonly``)."""
    readonly_secret_key: SecretStr = SecretStr("")
    metrics_access_key: str = ""
    """The metrics exporter's user (policy ``mdp-metrics``): lists ``incoming/``, reads nothing."""
    metrics_secret_key: SecretStr = SecretStr("")

    ROLES: ClassVar[tuple[str, ...]] = ("pipeline", "generator", "readonly", "metrics")

    def users(self) -> list[tuple[str, str, str]]:
        """(role, access key, secret key) of every role; ConfigError names what is missing."""
        found = []
        for role in self.ROLES:
            access: str = getattr(self, f"{role}_access_key")
            secret: SecretStr = getattr(self, f"{role}_secret_key")
            missing = [
                f"SETUP__{role.upper()}_{part}"
                for part, value in (
                    ("ACCESS_KEY", access),
                    ("SECRET_KEY", secret.get_secret_value()),
                )
                if not value
            ]
            if missing:
                raise ConfigError(f"set {', '.join(missing)} (the {role} MinIO user's Secret)")
            found.append((role, access, secret.get_secret_value()))
        return found


class ProfileSettings(BaseSettings):
    """Performance work only: ``MDP__PROFILE=FILE`` runs the command under cProfile."""

    model_config = SettingsConfigDict(env_prefix="MDP__", extra="ignore")

    profile: Path | None = None
    """Where the command's cProfile stats go (``python -m pstats FILE``); unset: no profiling."""


class MetabaseSettings(BaseSettings):
    """Where Metabase is and who the provisioner is there (``mdp metabase provision``).

    The warehouse connection it gives Metabase comes from ``PG__*``: the chart sets ``PG__USER``
    and ``PG__PASSWORD`` from the read-only login's Secret for this Job."""

    model_config = SettingsConfigDict(env_prefix="METABASE__", extra="ignore")

    url: str = "http://127.0.0.1:3000"
    """Base URL of Metabase (in the cluster: its Service)."""
    admin_email: str | None = None
    """E-mail of the admin the first-time setup creates and later runs log in as."""
    admin_password: SecretStr | None = None
    """The admin's password; or use ``METABASE__ADMIN_PASSWORD_FILE``."""
    admin_password_file: Path | None = None
    """Path of a mounted file holding the admin password."""
    site_name: str = "Mini Data Platform"
    """Site name set by the first-time setup."""
    wait_timeout: float = Field(default=900.0, ge=0)
    """Seconds to wait for Metabase to report healthy (a first start takes minutes)."""
    request_timeout: float = Field(default=30.0, gt=0)
    """Seconds before one HTTP request counts as failed (and is retried)."""
    retry_backoff: float = Field(default=1.0, ge=0)
    """First back-off between retries in seconds; doubles up to 15 s."""

    @model_validator(mode="after")
    def _load_password_file(self) -> Self:
        if self.admin_password is None:
            self.admin_password = _read_secret_file(self.admin_password_file)
        return self
