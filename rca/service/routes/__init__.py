"""The routers of the service; :data:`ROUTERS` is what ``create_app`` includes, in order.

A new part of the service adds its module here and its router to the list.
"""

from fastapi import APIRouter

from rca.service.routes import (
    accuracy,
    analyses,
    incidents,
    ops,
    report,
    tickets,
    topologies,
    verdicts,
    webhooks,
)

__all__ = ["ROUTERS"]

ROUTERS: list[APIRouter] = [ops.router, topologies.router, analyses.router, verdicts.router, report.router, accuracy.router, webhooks.router,
                           tickets.router, incidents.router]
