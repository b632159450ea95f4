"""Your own incidents as a benchmark: a folder of case folders (``rca bench --dataset cases:PATH``).

Each case is a folder with a manifest, ``case.yaml`` (or ``case.yml``,
``case.json``)::

    incident: {service: frontend, metric: latency, start: "2024-05-01T13:00:00Z"}
    root_causes: [payment]        # [] or absent: a normal window, the right answer is "no root cause"
    fault_type: latency_step      # optional, reported per fault type
    group: shop                   # optional; default: the folder holding the case folder
    # optional, paths relative to this folder:
    metrics: metrics.csv          # default metrics.csv or metrics.parquet here
    baseline: ../normal.parquet   # default baseline.csv or .parquet here or in a folder above
    topology: ../topology.yaml    # default topology.{yaml,yml,json,csv} here or in a folder above
    edges: calls                  # or causal: the topology's arrows mean cause -> effect

so incidents of one system can share the topology (and normal data) kept
in the folder above them.  Metrics are long (``timestamp, service, metric,
value``) or wide CSV/Parquet, as :func:`rca.analyze` reads them.  A case
folder may sit at any depth below ``PATH``; ``PATH`` may also be one case.

:func:`write_case` writes any :class:`BenchCase` in this form, so generated
or loaded cases can be kept, shared and re-run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

import topology
from rca.engine.errors import InvalidInputError
from rca.engine.ingest import load_metrics, read_metrics_file
from rca.engine.types import DataIssue, Incident
from rca.evaluation.datasets.base import BenchCase
from topology import ServiceGraph

__all__ = ["MANIFESTS", "load_case_folders", "write_case", "write_cases"]

#: Manifest file names, in the order they are looked for.
MANIFESTS: tuple[str, ...] = ("case.yaml", "case.yml", "case.json")
_KEYS = ("incident", "root_causes", "fault_type", "group", "metrics", "baseline", "topology", "edges")
_TOPOLOGY_FILES = ("topology.yaml", "topology.yml", "topology.json", "topology.csv")
_METRIC_SUFFIXES_BY_FORMAT = {"csv": ".csv", "parquet": ".parquet"}  # how write_case writes, what a case may hold
_METRIC_SUFFIXES = tuple(_METRIC_SUFFIXES_BY_FORMAT.values())


def _fail(where: Path, message: str) -> InvalidInputError:
    return InvalidInputError(f"{where}: {message}", field="dataset")


def _manifest(folder: Path) -> Path | None:
    return next((folder / m for m in MANIFESTS if (folder / m).is_file()), None)


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
        doc = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
        raise _fail(path, f"cannot read the manifest: {exc}") from None
    if not isinstance(doc, dict):
        raise _fail(path, "the manifest must be a mapping with at least 'incident'")
    unknown = sorted(set(map(str, doc)) - set(_KEYS))
    if unknown:
        raise _fail(path, f"unknown key {unknown[0]!r}; a case has: {', '.join(_KEYS)}")
    return doc


def _named_file(manifest: Path, doc: Mapping[str, Any], key: str) -> Path | None:
    value = doc.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _fail(manifest, f"{key!r} must be a file path, got {value!r}")
    path = (manifest.parent / value).resolve()
    if not path.is_file():
        raise _fail(manifest, f"{key} file {value!r} does not exist")
    return path


def _found_above(folder: Path, root: Path, names: tuple[str, ...]) -> Path | None:
    """The first of ``names`` in ``folder`` or a folder above it, up to ``root``."""
    here = folder
    while True:
        hit = next((here / n for n in names if (here / n).is_file()), None)
        if hit is not None or here == root or here.parent == here:
            return hit
        here = here.parent


def _string_list(manifest: Path, value: Any, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) and v.strip() for v in items):
        raise _fail(manifest, f"{key!r} must be a list of service names, got {value!r}")
    return tuple(v.strip() for v in items)


def _read_case(
    manifest: Path,
    root: Path,
    graphs: dict[tuple[Path, str], ServiceGraph],
    baselines: dict[Path, tuple[pd.DataFrame, list[DataIssue]]],
) -> BenchCase:
    doc = _read_manifest(manifest)
    folder = manifest.parent
    if "incident" not in doc:
        raise _fail(manifest, "'incident' is required: {service, metric, start[, end]}")
    try:
        incident = Incident.from_dict(doc["incident"])
    except InvalidInputError as exc:
        raise _fail(manifest, str(exc)) from None

    edges = doc.get("edges", "calls")
    topo_path = _named_file(manifest, doc, "topology") or _found_above(folder, root, _TOPOLOGY_FILES)
    if topo_path is None:
        raise _fail(manifest, f"no topology: name one with 'topology:' or put one of {', '.join(_TOPOLOGY_FILES)} here or above")
    key = (topo_path, str(edges))
    if key not in graphs:  # incidents of one system share their topology file: read it once
        try:
            graphs[key] = topology.load(topo_path, edges=edges)
        except topology.TopologyError as exc:
            raise _fail(manifest, f"topology {topo_path.name}: {exc}") from None
    graph = graphs[key]

    metrics_path = _named_file(manifest, doc, "metrics") or _found_above(
        folder, folder, tuple(f"metrics{s}" for s in _METRIC_SUFFIXES)
    )
    if metrics_path is None:
        raise _fail(manifest, "no metrics: name a file with 'metrics:' or put metrics.csv or metrics.parquet here")
    baseline_path = _named_file(manifest, doc, "baseline") or _found_above(
        folder, root, tuple(f"baseline{s}" for s in _METRIC_SUFFIXES)
    )
    try:
        metrics, issues = load_metrics(read_metrics_file(metrics_path), field="metrics")
        baseline = None
        if baseline_path is not None:
            if baseline_path not in baselines:  # normal data shared by many cases: read once, one frame for all
                baselines[baseline_path] = load_metrics(read_metrics_file(baseline_path, field="baseline"), field="baseline")
            baseline, base_issues = baselines[baseline_path]
            issues += base_issues
    except InvalidInputError as exc:
        raise _fail(manifest, str(exc)) from None

    roots = _string_list(manifest, doc.get("root_causes"), "root_causes")
    for name in (incident.service, *roots):
        if name not in graph:
            what = "incident.service" if name == incident.service else "root_causes"
            raise _fail(manifest, f"{what} {name!r} is not in the topology {topo_path.name} ({len(graph)} services)")
    rel = folder.relative_to(root)
    case_id = rel.as_posix() if rel.parts else root.name
    group = doc.get("group")
    if group is not None and (not isinstance(group, str) or not group.strip()):
        raise _fail(manifest, f"'group' must be a non-empty string, got {group!r}")
    fault_type = doc.get("fault_type")
    if fault_type is not None and not isinstance(fault_type, str):
        raise _fail(manifest, f"'fault_type' must be a string, got {fault_type!r}")
    default_group = rel.parent.as_posix() if len(rel.parts) > 1 else root.name
    return BenchCase(
        case_id=case_id,
        dataset="cases",
        group=(group or default_group).strip(),
        graph=graph,
        metrics=metrics,
        incident=incident,
        baseline=baseline,
        root_causes=roots,
        fault_type=fault_type,
        issues=tuple(issues),
        meta={"manifest": str(manifest), "topology": str(topo_path), "metrics": str(metrics_path)},
    )


def load_case_folders(root: str | Path, *, groups: str | list[str] | None = None) -> list[BenchCase]:
    """Load every case folder at or below ``root`` (see the module doc for the layout).

    Parameters
    ----------
    root : path
        A case folder, or a folder with case folders at any depth below it.
    groups : str or list of str, optional
        Only cases of these groups.

    Returns
    -------
    list of BenchCase
        In path order; ``dataset`` is ``"cases"``.

    Raises
    ------
    rca.engine.errors.InvalidInputError
        ``field="dataset"``; the message names the manifest and what is wrong
        with it (a missing file, a bad incident, a root cause not in the topology...).

    Examples
    --------
    >>> import tempfile
    >>> from rca.evaluation.datasets.synthetic import demo_case
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = write_case(demo_case(), Path(tmp) / "shop" / "payment-slow")
    ...     [(c.case_id, c.group, c.root_causes) for c in load_case_folders(tmp)]
    [('shop/payment-slow', 'demo', ('payment',))]
    """
    base = Path(root).expanduser().resolve()
    if not base.is_dir():
        raise InvalidInputError(f"case folder {str(root)!r} does not exist", field="dataset")
    manifests = sorted({p.parent for m in MANIFESTS for p in base.rglob(m)})
    if not manifests:
        raise InvalidInputError(
            f"no case under {str(root)!r}: each case folder holds a {' or '.join(MANIFESTS)}", field="dataset"
        )
    graphs: dict[tuple[Path, str], ServiceGraph] = {}
    baselines: dict[Path, tuple[pd.DataFrame, list[DataIssue]]] = {}
    cases = [_read_case(_manifest(folder), base, graphs, baselines) for folder in manifests]  # type: ignore[arg-type]
    if groups is not None:
        wanted = {groups} if isinstance(groups, str) else set(groups)
        missing = sorted(wanted - {c.group for c in cases})
        if missing:
            raise InvalidInputError(
                f"unknown group {missing[0]!r}; found: {', '.join(sorted({c.group for c in cases}))}", field="dataset"
            )
        cases = [c for c in cases if c.group in wanted]
    return cases


def write_case(
    case: BenchCase, folder: str | Path, *, baseline_file: str | Path | None = None, fmt: str = "csv"
) -> Path:
    """Write ``case`` as a case folder (manifest, topology, metrics, baseline); returns the folder.

    The topology is written as calls (``topology.json``), the metrics and
    normal data in the long format (``metrics.csv``, ``baseline.csv``, or
    ``.parquet`` with ``fmt="parquet"``: several times smaller).
    ``baseline_file`` names normal data already written (by an earlier case
    sharing it) for the manifest to point to instead of writing a copy.
    """
    if fmt not in _METRIC_SUFFIXES_BY_FORMAT:
        raise InvalidInputError(f"fmt must be 'csv' or 'parquet', got {fmt!r}", field="fmt")
    suffix = _METRIC_SUFFIXES_BY_FORMAT[fmt]
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    topology.write_json(case.graph, out / "topology.json")
    _write_long(case.metrics, out / f"metrics{suffix}")
    doc: dict[str, Any] = {
        "incident": case.incident.to_dict(),
        "root_causes": list(case.root_causes),
        "group": case.group,
    }
    if case.fault_type is not None:
        doc["fault_type"] = case.fault_type
    if baseline_file is not None:
        doc["baseline"] = os.path.relpath(Path(baseline_file).resolve(), out.resolve())
    elif case.baseline is not None:
        _write_long(case.baseline, out / f"baseline{suffix}")
    (out / "case.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return out


def write_cases(cases: list[BenchCase], folder: str | Path, *, fmt: str = "parquet") -> int:
    """Write every case below ``folder`` as ``<dataset>/<case_id>``; normal data shared by cases is written once.

    Parquet by default: a PetShop export is about 0.5 GB as CSV.  Returns the
    number of cases written; ``cases:FOLDER`` reads them back.
    """
    root = Path(folder)
    shared: dict[int, Path] = {}
    for case in cases:
        target = root / case.dataset / case.case_id
        base = case.baseline
        first = base is not None and id(base) not in shared
        write_case(case, target, baseline_file=None if base is None or first else shared[id(base)], fmt=fmt)
        if first:
            shared[id(base)] = target / f"baseline{_METRIC_SUFFIXES_BY_FORMAT[fmt]}"
    return len(cases)



def _write_long(frame: pd.DataFrame, path: Path) -> None:
    long, _ = load_metrics(frame)
    if path.suffix == ".parquet":
        long.to_parquet(path, index=False)
    else:
        long.to_csv(path, index=False)  # timestamps as '2024-05-01 13:00:00+00:00', which ingest reads back as UTC
