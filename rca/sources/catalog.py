"""The metrics catalog: engine metric name -> PromQL template, per service.

The catalog is a YAML file the user owns (``RCA_METRICS_CATALOG``); the
bundled :file:`default_catalog.yaml` documents the format and covers
OpenTelemetry HTTP server metrics, Istio and cAdvisor.  It is validated when
loaded (at server start-up), and every error names the entry and the field::

    metrics catalog 'my.yaml': entry 'latency', field 'service_label': ...

>>> cat = load_catalog()
>>> "latency" in cat.metrics
True
>>> cat.render("cpu", ["cart", "db"])
'sum by (container) (rate(container_cpu_usage_seconds_total{container=~"cart|db"}[1m]))'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from rca.engine.errors import InvalidConfigError, did_you_mean

__all__ = [
    "CatalogError",
    "CatalogEntry",
    "MetricsCatalog",
    "load_catalog",
    "parse_catalog",
    "services_regex",
    "DEFAULT_CATALOG",
]

DEFAULT_CATALOG = "default_catalog.yaml"

_LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_METRIC_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]*$")
_DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_KNOWN_PLACEHOLDERS = {"services", "service", "rate_window"}
# `{service}` may only stand as the value of a matcher; it becomes a regex matcher.
_SERVICE_MATCHER = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*(=~|=)\s*"\{service\}"')
# RE2 metacharacters; Prometheus anchors regex matchers, so no ^/$ needed.
_REGEX_META = set(".^$*+?()[]{}|\\")


class CatalogError(InvalidConfigError):
    """The metrics catalog is unreadable or an entry is invalid; ``field`` names it."""


class CatalogEntry(BaseModel):
    """How to fetch one engine metric for a set of services."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    query: str = Field(min_length=1)
    service_label: str
    unit: str | None = None
    description: str | None = None

    @field_validator("service_label")
    @classmethod
    def _label_name(cls, v: str) -> str:
        if not _LABEL.match(v):
            raise ValueError(f"must be a Prometheus label name ([A-Za-z_][A-Za-z0-9_]*), got {v!r}")
        return v

    @field_validator("query")
    @classmethod
    def _query(cls, v: str) -> str:
        v = " ".join(v.split())
        names = set(_PLACEHOLDER.findall(v))
        unknown = sorted(names - _KNOWN_PLACEHOLDERS)
        if unknown:
            raise ValueError(
                f"unknown placeholder {{{unknown[0]}}}; use {{services}} (a regex of service names), "
                "{service} (in a label=\"{service}\" matcher) or {rate_window}"
            )
        if "services" not in names and "service" not in names:
            raise ValueError(
                'needs a {services} placeholder (e.g. job=~"{services}") so the query selects the services'
            )
        bare = v.count("{service}") - len(_SERVICE_MATCHER.findall(v))
        if bare:
            raise ValueError('{service} may only appear as a matcher value, e.g. job="{service}"')
        return v

    @model_validator(mode="after")
    def _label_in_query(self) -> CatalogEntry:
        if not re.search(rf"\b{re.escape(self.service_label)}\b", self.query):
            raise ValueError(
                f"service_label {self.service_label!r} does not appear in the query; the result series "
                f"must carry it (e.g. sum by ({self.service_label}) (...))"
            )
        return self


class MetricsCatalog(BaseModel):
    """A validated catalog.  ``metrics`` maps engine metric names to entries."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = 1
    rate_window: str = "1m"
    metrics: dict[str, CatalogEntry] = Field(min_length=1)
    source: str = Field(default="<memory>", exclude=True)

    @field_validator("version")
    @classmethod
    def _version(cls, v: int) -> int:
        if v != 1:
            raise ValueError(f"only version 1 is understood, got {v!r}")
        return v

    @field_validator("rate_window")
    @classmethod
    def _window(cls, v: str) -> str:
        if not _DURATION.match(v):
            raise ValueError(f"must be a Prometheus duration such as '1m' or '30s', got {v!r}")
        return v

    @field_validator("metrics")
    @classmethod
    def _names(cls, v: dict[str, CatalogEntry]) -> dict[str, CatalogEntry]:
        for name in v:
            if not _METRIC_NAME.match(name):
                raise ValueError(f"metric name {name!r} must match [A-Za-z_][A-Za-z0-9_.:-]*")
        return v

    def entry(self, metric: str) -> CatalogEntry:
        """The entry for ``metric``; :class:`CatalogError` naming the known ones otherwise."""
        try:
            return self.metrics[metric]
        except KeyError:
            raise CatalogError(
                f"metrics catalog {self.source!r} has no entry {metric!r}{did_you_mean(str(metric), self.metrics)} "
                f"(known: {', '.join(sorted(self.metrics))})",
                field=f"metrics.{metric}",
            ) from None

    def render(self, metric: str, services: Iterable[str]) -> str:
        """The PromQL selecting ``metric`` for all ``services`` in one query."""
        entry = self.entry(metric)
        rx = services_regex(services)
        q = _SERVICE_MATCHER.sub(lambda m: f'{m.group(1)}=~"{{services}}"', entry.query)
        return q.replace("{services}", rx).replace("{rate_window}", self.rate_window)


def services_regex(services: Iterable[str]) -> str:
    """An RE2 alternation matching exactly ``services``, quoted for a PromQL string.

    >>> services_regex(["a.b", "c"])
    'a\\\\\\\\.b|c'
    """
    names = sorted(set(services))
    if not names:
        raise ValueError("services_regex needs at least one service name")
    parts = ["".join("\\" + ch if ch in _REGEX_META else ch for ch in n) for n in names]
    # Inside a double-quoted PromQL string a backslash must itself be escaped.
    return "|".join(parts).replace("\\", "\\\\").replace('"', '\\"')


def _loc(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc)


def parse_catalog(data: Any, *, source: str = "<memory>") -> MetricsCatalog:
    """Validate a catalog document (the parsed YAML); errors name the entry."""
    if not isinstance(data, Mapping):
        raise CatalogError(f"metrics catalog {source!r} must be a mapping with a 'metrics' key", field="metrics")
    try:
        return MetricsCatalog.model_validate({**data, "source": source})
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        if len(loc) >= 2 and loc[0] == "metrics":
            where = f"entry {loc[1]!r}" + (f", field {_loc(loc[2:])!r}" if len(loc) > 2 else "")
        else:
            where = f"field {_loc(loc)!r}" if loc else "document"
        raise CatalogError(f"metrics catalog {source!r}: {where}: {msg}", field=_loc(loc) or None) from None


def load_catalog(path: str | Path | None = None) -> MetricsCatalog:
    """Load and validate a catalog file; ``None`` loads the bundled defaults."""
    if path is None:
        text = resources.files("rca.sources").joinpath(DEFAULT_CATALOG).read_text(encoding="utf-8")
        source = DEFAULT_CATALOG
    else:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise CatalogError(f"cannot read metrics catalog {source!r}: {exc.strerror}", field="RCA_METRICS_CATALOG") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        raise CatalogError(f"metrics catalog {source!r} is not valid YAML{line}", field="RCA_METRICS_CATALOG") from None
    return parse_catalog(data, source=source)
