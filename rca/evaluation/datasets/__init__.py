"""Benchmark datasets: every loader returns a list of :class:`BenchCase`.

A dataset is named by a *spec* string, as on the ``rca bench --dataset``
command line:

``petshop:PATH``
    The PetShop directory format (:func:`rca.evaluation.datasets.petshop.load_petshop`).
``nezha:PATH``
    The Nezha directory format (:func:`rca.evaluation.datasets.nezha.load_nezha`);
    ``nezha:PATH|modalities=metrics+logs`` hands the engine only those (the ablations).
``cases:PATH``
    Your own incidents: a folder of case folders, each with a ``case.yaml``
    manifest (:func:`rca.evaluation.datasets.cases.load_case_folders`).
``inject:SOURCE[|OPTIONS]``
    Faults injected into the normal windows of another dataset spec
    (:func:`rca.evaluation.datasets.inject.inject_faults`), e.g.
    ``inject:petshop:PATH|seed=2,per_window=4``.
``synthetic:SPEC``
    Generated cases (:func:`rca.evaluation.datasets.synthetic.generate_cases`);
    ``synthetic:family=sem,...`` gives linear-SEM cases in the style of the
    PyRCA and CIRCA synthetic benchmarks.

A bare ``petshop`` or ``nezha`` means ``$RCA_DATASETS/<name>`` when the
``RCA_DATASETS`` environment variable is set, else ``../shared/datasets/<name>``
relative to the current directory.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from rca.engine.errors import InvalidInputError
from rca.evaluation.datasets.base import BenchCase

__all__ = ["BenchCase", "DATASETS", "load_cases", "default_dataset_path", "spec_usage"]

#: The dataset names a spec may start with, and what each one is.
DATASETS: dict[str, str] = {
    "petshop": "PetShop (AWS microservices, 5-minute metrics; Hardt et al., CLeaR 2024, CC-BY-4.0)",
    "nezha": "Nezha (Online Boutique and Train Ticket on Kubernetes, 1-minute metrics, spans and logs; FSE 2023, MIT)",
    "cases": "Your own incidents: case folders with a case.yaml, metrics and a topology",
    "inject": "Faults injected into the normal windows of another dataset (inject:SOURCE|OPTIONS)",
    "synthetic": "Seeded synthetic incidents over generated topologies",
}


_ARG = {"synthetic": "SPEC", "inject": "SOURCE"}  # what follows the ':' when it is not a folder


def spec_usage() -> str:
    """The spec forms, for messages: ``"petshop:PATH, nezha:PATH, ..., synthetic:SPEC"``."""
    return ", ".join(f"{n}:{_ARG.get(n, 'PATH')}" for n in DATASETS)


def default_dataset_path(name: str) -> Path:
    """Where a bare dataset name points: ``$RCA_DATASETS/<name>`` or ``../shared/datasets/<name>``."""
    env = os.environ.get("RCA_DATASETS")
    base = Path(env) if env else Path.cwd().parent / "shared" / "datasets"
    return base / name


def _loader(name: str) -> Callable[..., Iterable[BenchCase]]:
    # Imported lazily: ``import rca.evaluation.datasets`` stays cheap and a broken
    # optional loader cannot break the others.
    if name == "petshop":
        from rca.evaluation.datasets.petshop import load_petshop

        return load_petshop
    if name == "nezha":
        from rca.evaluation.datasets.nezha import load_nezha

        return load_nezha
    if name == "cases":
        from rca.evaluation.datasets.cases import load_case_folders

        return load_case_folders
    from rca.evaluation.datasets.synthetic import generate_cases

    return generate_cases


def _check_options(name: str, func: Callable[..., Any], options: dict[str, Any]) -> None:
    params = inspect.signature(func).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    allowed = [p for p, v in list(params.items())[1:] if v.kind is not inspect.Parameter.VAR_POSITIONAL]
    for key in options:
        if key not in allowed:
            raise InvalidInputError(
                f"unknown option {key!r} for dataset {name!r}; allowed: {', '.join(allowed) or 'none'}",
                field="dataset",
            )


def load_cases(spec: str, **options: Any) -> list[BenchCase]:
    """Load the benchmark cases named by ``spec``.

    Parameters
    ----------
    spec : str
        ``petshop:PATH``, ``nezha:PATH``, ``cases:PATH``, ``synthetic:SPEC``, or a bare
        ``petshop`` / ``nezha`` for the default location (see the module doc).
    **options
        Passed to the loader (``scenarios=``, ``systems=``, ``abnormal=``...).

    Raises
    ------
    rca.engine.errors.InvalidInputError
        ``field="dataset"``: unknown dataset name, missing path, unknown option.

    Examples
    --------
    >>> load_cases("mnist")
    Traceback (most recent call last):
    ...
    rca.engine.errors.InvalidInputError: unknown dataset 'mnist' in spec 'mnist'; use one of: petshop:PATH, nezha:PATH, cases:PATH, inject:SOURCE, synthetic:SPEC
    """
    if not isinstance(spec, str) or not spec.strip():
        raise InvalidInputError(
            f"dataset spec must be a non-empty string like 'petshop:PATH', got {spec!r}", field="dataset"
        )
    name, sep, rest = spec.strip().partition(":")
    name = name.strip().lower()
    if name not in DATASETS:
        raise InvalidInputError(
            f"unknown dataset {name!r} in spec {spec!r}; use one of: {spec_usage()}",
            field="dataset",
        )
    if sep and not rest.strip():
        raise InvalidInputError(
            f"dataset spec {spec!r} has an empty {_ARG.get(name, 'PATH')} after ':'; "
            f"write '{name}:{_ARG.get(name, 'PATH')}' or a bare '{name}'",
            field="dataset",
        )
    if name == "cases" and not rest.strip():
        raise InvalidInputError(f"dataset spec {spec!r} needs the folder: write 'cases:PATH'", field="dataset")
    if name == "inject":
        from rca.evaluation.datasets.inject import inject_faults, parse_inject_options

        source, _, opts = rest.partition("|")
        if not source.strip():
            raise InvalidInputError(f"dataset spec {spec!r} needs a source: write 'inject:petshop:PATH'", field="dataset")
        _check_options(name, inject_faults, options)
        return inject_faults(load_cases(source.strip()), **{**parse_inject_options(opts), **options})
    func = _loader(name)
    if name != "synthetic" and "|" in rest:
        # ``nezha:PATH|modalities=metrics+logs``: loader options after the path, as ``inject:`` takes them
        rest, _, opts = rest.partition("|")
        for item in filter(None, (o.strip() for o in opts.split(","))):
            key, eq, value = item.partition("=")
            if not eq or not key.strip():
                raise InvalidInputError(f"dataset option {item!r} in spec {spec!r} must read key=value", field="dataset")
            options.setdefault(key.strip(), value.strip())
    _check_options(name, func, options)
    if name == "synthetic":
        # the generator yields cases lazily; the registry's contract is a list
        return list(func(rest.strip(), **options) if rest.strip() else func(**options))
    path = Path(rest.strip()).expanduser() if rest.strip() else default_dataset_path(name)
    if not path.is_dir():
        hint = "" if rest.strip() else " (set RCA_DATASETS or pass '" + name + ":PATH')"
        raise InvalidInputError(f"dataset directory {str(path)!r} does not exist{hint}", field="dataset")
    return list(func(path, **options))
