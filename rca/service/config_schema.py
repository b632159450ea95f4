"""The analysis configuration as pydantic models, generated from :mod:`rca.engine.config`.

The engine declares every parameter once, in each section's ``_RULES`` table
(kind and bounds) with its default and numpydoc description.  This module
turns that table into pydantic models, so the HTTP schema types ``config``
field by field and the request is checked against exactly what the schema
says; :meth:`rca.RCAConfig.from_dict` then builds the engine's object from
the checked values.  A parameter the table does not describe stops the import
(``_UNRULED`` holds the few typed here by hand), so the schema cannot fall
behind the engine.
"""

from __future__ import annotations

import dataclasses
import re
import zoneinfo
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    WithJsonSchema,
    create_model,
)

from rca.engine.config import RCAConfig
from rca.engine.errors import did_you_mean

__all__ = ["DURATION_PATTERN", "ConfigBody", "config_dict", "config_json_schema", "config_names"]

DURATION_PATTERN = r"^[1-9][0-9]{0,4}(ns|us|ms|s|min|h|d)$"
"""Durations the schema admits (``30s``, ``5min``, ``2h``): positive, and small enough for a pandas Timedelta."""

_UNRULED: dict[str, Any] = {
    "detect.directions": (dict[StrictStr, Literal["up", "down", "both"]], "Bad direction per metric name pattern."),
}


def _descriptions(cls: type) -> dict[str, str]:
    """``name : type`` / indented text pairs of the class docstring's Attributes section."""
    doc = cls.__doc__ or ""
    out: dict[str, str] = {}
    for m in re.finditer(r"^    (\w+) : [^\n]*\n((?:        [^\n]*\n?)+)", doc, flags=re.MULTILINE):
        out[m.group(1)] = " ".join(line.strip() for line in m.group(2).splitlines())
    return out


def _integral(value: Any) -> Any:
    """JSON Schema's ``integer`` includes ``3.0``: take it as 3 (and nothing else that is not an int)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _zone(value: str) -> str:
    """An IANA zone name (the message names the closest ones, not all six hundred)."""
    if value not in zoneinfo.available_timezones():
        raise ValueError(f"{value!r} is not an IANA time zone name{did_you_mean(value, zoneinfo.available_timezones())}")
    return value


def _annotation(rule: tuple) -> tuple[Any, dict[str, Any]]:
    optional = rule[0] == "optional"
    if optional:
        rule = rule[1:]
    kind = rule[0]
    extra: dict[str, Any] = {}
    if kind == "int":
        ann: Any = Annotated[StrictInt, BeforeValidator(_integral)]
        extra = {"ge": rule[1], "le": rule[2]}
    elif kind == "float":
        ann = StrictFloat
        extra = {"ge": rule[1], "le": rule[2], "allow_inf_nan": False}
    elif kind == "choice":
        ann = Literal[tuple(sorted(rule[1]))]
    elif kind == "bool":
        ann = StrictBool
    elif kind == "duration":
        ann = StrictStr
        extra = {"pattern": DURATION_PATTERN}
    elif kind == "timezone":
        zones = sorted(zoneinfo.available_timezones())
        ann = Annotated[StrictStr, AfterValidator(_zone), WithJsonSchema({"type": "string", "enum": zones})]
    elif kind == "calibration":
        # Over HTTP only the maps the server ships: a request must not name files on the server.
        ann = Literal["default", "none"]
    else:
        raise TypeError(f"config rule kind {kind!r} has no schema; add it to rca.service.config_schema")
    return (ann | None) if optional else ann, extra


def _section_model(name: str, cls: type) -> type[BaseModel]:
    if isinstance(cls, type) and issubclass(cls, BaseModel):
        return cls  # the engine's own model: nothing to generate
    rules: dict[str, tuple] = getattr(cls, "_RULES", {})
    docs = _descriptions(cls)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        path = f"{name}.{f.name}"
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        if f.name in rules:
            ann, extra = _annotation(rules[f.name])
        elif path in _UNRULED:
            ann, extra = _UNRULED[path][0], {}
        else:
            raise TypeError(f"config parameter {path!r} has no rule in {cls.__name__}._RULES; the HTTP schema cannot type it")
        if isinstance(default, dict):
            default = dict(default)
        fields[f.name] = (ann, Field(default, description=docs.get(f.name), **extra))
    return create_model(  # type: ignore[call-overload,no-any-return]
        f"{cls.__name__}Body",
        __config__=ConfigDict(extra="forbid"),
        __doc__=(cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else None,
        **fields,
    )


def _config_model() -> type[BaseModel]:
    sections = {
        name: (_section_model(name, cls), Field(None)) for name, cls in RCAConfig._SECTIONS.items()
    }
    return create_model(  # type: ignore[call-overload,no-any-return]
        "ConfigBody",
        __config__=ConfigDict(extra="forbid"),
        __doc__="Analysis configuration (`rca.RCAConfig`): any subset of its sections and parameters; the rest keep their defaults.",
        **sections,
    )


ConfigBody = _config_model()


def config_names(path: list[str]) -> list[str]:
    """The parameter (or section) names at ``path`` of the configuration (``[]``: the sections)."""
    model: Any = ConfigBody
    for part in path:
        field = model.model_fields.get(part)
        model = field.annotation if field is not None else None
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
    return sorted(model.model_fields)


def config_json_schema() -> dict[str, Any]:
    """The JSON schema of :data:`ConfigBody` (the ``config`` of an analysis request)."""
    return ConfigBody.model_json_schema()


def config_dict(body: BaseModel | None) -> dict[str, Any] | None:
    """The parameters a request set, as :meth:`rca.RCAConfig.from_dict` takes them."""
    if body is None:
        return None
    return {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
