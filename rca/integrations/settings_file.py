"""Settings sources shared by every ``RCA_*`` settings class.

Precedence, highest first: keyword arguments, environment, the file named by
``RCA_CONFIG_FILE`` (TOML, YAML or JSON, keys without the prefix), defaults.
Lives outside :mod:`rca.service` so the alerting settings can use it without
importing the web application.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic_settings import (
    BaseSettings,
    JsonConfigSettingsSource,
    PydanticBaseSettingsSource,
    TomlConfigSettingsSource,
    YamlConfigSettingsSource,
)

__all__ = ["FileBackedSettings", "config_file_source"]


def config_file_source(settings_cls: type[BaseSettings], path: Path) -> PydanticBaseSettingsSource:
    """The settings source for a config file, chosen by its extension."""
    if not path.is_file():
        raise ValueError(f"RCA_CONFIG_FILE={str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".toml":
        return TomlConfigSettingsSource(settings_cls, toml_file=path)
    if suffix in (".yaml", ".yml"):
        return YamlConfigSettingsSource(settings_cls, yaml_file=path)
    if suffix == ".json":
        return JsonConfigSettingsSource(settings_cls, json_file=path)
    raise ValueError(f"RCA_CONFIG_FILE must end in .toml, .yaml, .yml or .json, got {str(path)!r}")


class FileBackedSettings(BaseSettings):
    """BaseSettings reading keyword arguments, the environment, then ``RCA_CONFIG_FILE``."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = os.environ.get("RCA_CONFIG_FILE")
        if path:
            sources.append(config_file_source(settings_cls, Path(path)))
        return tuple(sources)
