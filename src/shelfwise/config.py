"""One typed settings object for the whole system, read from the environment or `.env`."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where Shelfwise keeps its data and which services it talks to.

    Every URL defaults to a file under `home`, so the demo runs with no configuration.
    """

    model_config = SettingsConfigDict(env_prefix="SHELFWISE_", env_file=".env", extra="ignore")

    home: Path = Field(default=Path(".shelfwise"), description="data folder")
    database_url: str | None = Field(default=None, description="operational store")
    lake_uri: str | None = Field(default=None, description="bronze/silver/gold lake root")
    warehouse_url: str | None = Field(default=None, description="optional PostgreSQL warehouse")
    mlflow_uri: str | None = Field(default=None, description="MLflow tracking URI")
    secret_key: SecretStr | None = Field(default=None, description="signs sessions and tokens")

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'shelfwise.db').resolve()}"

    @property
    def resolved_lake_uri(self) -> str:
        return self.lake_uri or str((self.home / "lake").resolve())

    @property
    def warehouse_path(self) -> Path:
        return (self.home / "warehouse.duckdb").resolve()

    @property
    def resolved_mlflow_uri(self) -> str:
        return self.mlflow_uri or f"sqlite:///{(self.home / 'mlflow.db').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
