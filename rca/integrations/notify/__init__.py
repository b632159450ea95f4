"""Answers out: the persisted outbox of write-backs (:mod:`rca.integrations.notify.outbox`)."""
