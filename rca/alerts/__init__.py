"""Alerts in: webhook payloads, their authentication, and the messages written back.

Kept free of imports so that the service's routes can import the submodules
in any order (:mod:`rca.api` imports the webhook routes, which import these).
"""

ALERT_STATUSES = ("firing", "resolved", "ignored", "unmappable")
"""Status of a stored alert (``alerts.status``)."""
