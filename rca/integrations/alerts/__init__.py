"""Alerts in: webhook payloads, their authentication, the worker that turns them into analyses, and the messages written back."""
