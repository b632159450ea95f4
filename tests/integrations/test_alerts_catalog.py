from __future__ import annotations

from pathlib import Path

import pytest

from rca.engine.errors import InvalidConfigError
from rca.sources.catalog import (
    CatalogError,
    load_catalog,
    parse_catalog,
    services_regex,
)

GOOD = {"query": 'max by (service) (lat{service=~"{services}"})', "service_label": "service"}


def doc(**entry: object) -> dict:
    return {"metrics": {"latency": {**GOOD, **entry}}}


def test_default_catalog_loads_with_the_documented_exporters() -> None:
    cat = load_catalog()
    assert {"latency", "error_rate", "request_rate", "istio_latency", "istio_error_rate", "cpu", "memory"} <= set(
        cat.metrics
    )
    q = cat.render("istio_error_rate", ["checkout"])
    assert 'reporter="destination"' in q and 'destination_service_name=~"checkout"' in q
    assert "{" + "services}" not in q and "{rate_window}" not in q


def test_render_one_regex_for_all_services_and_rewrites_single_service_matchers() -> None:
    cat = parse_catalog({"metrics": {"x": {"query": 'up{job="{service}"}', "service_label": "job"}}})
    assert cat.render("x", ["b", "a", "a"]) == 'up{job=~"a|b"}'


def test_services_regex_escapes_metacharacters_for_promql_strings() -> None:
    assert services_regex(["a.b", "c+d"]) == "a\\\\.b|c\\\\+d"


@pytest.mark.parametrize(
    ("entry", "field", "match"),
    [
        ({"service_label": "bad-label"}, "metrics.latency.service_label", "Prometheus label name"),
        ({"service_label": "job"}, "metrics.latency", "service_label 'job' does not appear"),
        ({"query": "up"}, "metrics.latency.query", "needs a {services} placeholder"),
        ({"query": 'up{service=~"{services}"} + {nope}'}, "metrics.latency.query", "unknown placeholder {nope}"),
        ({"query": 'label_replace(up, "service", "{service}", "", "")'}, "metrics.latency.query", "matcher value"),
        ({"query": ""}, "metrics.latency.query", "at least 1 character"),
        ({"colour": "red"}, "metrics.latency.colour", "Extra inputs"),
    ],
)
def test_invalid_entries_name_the_entry_and_field(entry: dict, field: str, match: str) -> None:
    with pytest.raises(CatalogError, match=match) as info:
        parse_catalog(doc(**entry), source="mine.yaml")
    assert info.value.field == field
    assert "metrics catalog 'mine.yaml': entry 'latency'" in str(info.value)
    assert isinstance(info.value, InvalidConfigError)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"metrics": {}}, "field 'metrics'"),
        ({"metrics": {"bad name": GOOD}}, "metric name 'bad name'"),
        ({"metrics": {"x": GOOD}, "rate_window": "1 minute"}, "rate_window"),
        ({"metrics": {"x": GOOD}, "version": 2}, "only version 1"),
        (["not", "a", "mapping"], "must be a mapping"),
    ],
)
def test_invalid_documents(data: object, match: str) -> None:
    with pytest.raises(CatalogError, match=match):
        parse_catalog(data)


def test_unknown_metric_names_the_known_ones() -> None:
    with pytest.raises(CatalogError, match=r"no entry 'saturation' \(known: latency\)"):
        parse_catalog(doc()).render("saturation", ["a"])
    with pytest.raises(CatalogError, match=r"no entry 'latncy'; did you mean 'latency'\? \(known: latency\)") as err:
        parse_catalog(doc()).entry("latncy")
    assert err.value.field == "metrics.latncy"


def test_load_catalog_file_errors(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot read metrics catalog"):
        load_catalog(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("metrics: [\n")
    with pytest.raises(CatalogError, match="not valid YAML at line"):
        load_catalog(bad)
    good = tmp_path / "good.yaml"
    good.write_text("metrics:\n  latency:\n    query: 'lat{service=~\"{services}\"}'\n    service_label: service\n")
    assert load_catalog(good).source == str(good)
