"""Answers out: the persisted outbox of write-backs (:mod:`rca.notify.outbox`)."""

DELIVERY_KINDS = ("pagerduty_note", "webhook", "slack")
"""Kinds of write-back target (``deliveries.kind``)."""
