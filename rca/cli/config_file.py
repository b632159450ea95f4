"""Reading an analysis configuration file (JSON or YAML) for the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rca.engine.errors import InvalidConfigError

__all__ = ["read_config_file"]


def read_config_file(path: Path, option: str = "--config") -> dict[str, Any]:
    """The mapping in ``path``, validated as an :class:`rca.RCAConfig`.

    Raises
    ------
    InvalidConfigError
        Missing file, bad JSON/YAML, not a mapping, or a bad parameter; the
        message names the file (and the parameter).
    """
    import yaml

    import rca

    if not path.is_file():
        raise InvalidConfigError(f"{option}: config file not found: {path}", field="config")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InvalidConfigError(
            f"{option}: config file {path} is not valid JSON/YAML: {str(exc).splitlines()[0]}", field="config"
        ) from None
    if not isinstance(data, dict):
        raise InvalidConfigError(
            f"{option}: config file {path} must hold a mapping of sections, got {type(data).__name__}", field="config"
        )
    try:
        rca.RCAConfig.from_dict(data)
    except InvalidConfigError as exc:
        raise InvalidConfigError(f"{option}: {path}: {exc}", field=exc.field) from None
    return data
