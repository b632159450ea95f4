"""A polling thread: run a pass, sleep between idle passes, wake early on demand.

Shared by the alert worker (:mod:`rca.integrations.alerts.worker`) and the delivery
outbox (:mod:`rca.integrations.notify.outbox`): both claim rows from the database in a
loop on one daemon thread.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable

__all__ = ["PollingThread", "owner_id"]

logger = logging.getLogger(__name__)


def owner_id(prefix: str) -> str:
    """A lease owner unique to this process and object: ``prefix-host-pid-random``."""
    return f"{prefix}-{socket.gethostname()[:20]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class PollingThread:
    """Calls ``run_pass()`` on a daemon thread until :meth:`stop`.

    ``run_pass`` returns whether it was busy: then the next pass starts at
    once, else the thread waits ``interval_seconds`` or until :meth:`wake`.
    A pass that raises is logged (as ``"<what> failed; retrying"``) and
    counts as idle.
    """

    def __init__(self, name: str, run_pass: Callable[[], bool], interval_seconds: float, what: str) -> None:
        self.name = name
        self.run_pass = run_pass
        self.interval_seconds = interval_seconds
        self.what = what
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was called (long passes check it to end early)."""
        return self._stop.is_set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wake(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.run_pass()
            except Exception:
                logger.exception("%s failed; retrying", self.what)
                busy = False
            if not busy:
                self._wake.wait(self.interval_seconds)
                self._wake.clear()
