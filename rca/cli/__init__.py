"""The ``rca`` command line (typer).

Each sub-command lives in its own module and registers itself on :data:`app`.
User mistakes print one line and exit non-zero; no tracebacks.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="rca",
    help="Root-cause analysis over service topology.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Sub-commands register themselves on import.
from rca.cli import analyze as _analyze  # noqa: E402,F401
from rca.cli import bench as _bench  # noqa: E402,F401
from rca.cli import calibrate as _calibrate  # noqa: E402,F401
from rca.cli import cases as _cases  # noqa: E402,F401
from rca.cli import serve as _serve  # noqa: E402,F401
from rca.cli import topology_pull as _topology_pull  # noqa: E402,F401
from rca.cli import storm as _storm  # noqa: E402,F401


def main() -> None:
    """Entry point of the ``rca`` console script."""
    app()
