"""Who may post alerts, and how our outbound webhooks prove they are ours.

Inbound (each failure raises :class:`SignatureError`, answered with 401):

* PagerDuty V3: ``X-PagerDuty-Signature: v1=<hex>[,v1=<hex>...]``, each the
  HMAC-SHA256 of the raw body with a subscription secret; several appear during
  secret rotation and any match suffices (and we may hold several secrets).
* Grafana: optional HMAC-SHA256 hex of the body, or of ``"<ts>:" + body`` when a
  timestamp header is configured; header names configurable, both default
  names accepted.
* Alertmanager: ``Authorization: Bearer <token>`` (it does not sign bodies).
* Opsgenie: a shared token in a custom header (it does not sign either).

Outbound (our generic webhook): ``X-RCA-Signature: t=<unix>,v1=<hex>`` where
``hex = HMAC-SHA256(secret, "<t>." + body)``; the timestamp lets receivers
refuse replays (:func:`verify_outbound_signature`).

Every comparison is constant-time (:func:`hmac.compare_digest`) and done on
the raw bytes before parsing.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable, Mapping, Sequence

from rca.engine.errors import RCAError

__all__ = [
    "SignatureError",
    "hmac_hex",
    "verify_pagerduty",
    "verify_grafana",
    "verify_bearer",
    "verify_token",
    "sign_outbound",
    "verify_outbound_signature",
    "GRAFANA_SIGNATURE_HEADERS",
    "OUTBOUND_SIGNATURE_HEADER",
]

GRAFANA_SIGNATURE_HEADERS = ("X-Grafana-Alerting-Signature", "X-Grafana-Alert-Signature")
OUTBOUND_SIGNATURE_HEADER = "X-RCA-Signature"


class SignatureError(RCAError):
    """The request is not authenticated; ``field`` names the header."""


def hmac_hex(secret: str | bytes, message: bytes) -> str:
    """Lowercase hex HMAC-SHA256."""
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _any_equal(candidates: Iterable[str], expected: Iterable[str]) -> bool:
    # Compare every pair so the time does not depend on which one matches.
    ok = False
    exp = [e.encode() for e in expected]
    for c in candidates:
        cb = c.strip().lower().encode()
        for e in exp:
            ok |= hmac.compare_digest(cb, e)
    return ok


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for k, v in headers.items():
        if k.lower() == name.lower():
            return v
    return None


def verify_pagerduty(body: bytes, header: str | None, secrets: Sequence[str]) -> None:
    """Check ``X-PagerDuty-Signature`` against every configured secret."""
    if not secrets:
        raise SignatureError("PagerDuty webhooks are not configured: set RCA_PAGERDUTY_WEBHOOK_SECRETS", field="X-PagerDuty-Signature")
    if not header:
        raise SignatureError("missing X-PagerDuty-Signature header", field="X-PagerDuty-Signature")
    sigs = [p.strip()[3:] for p in header.split(",") if p.strip().startswith("v1=")]
    if not sigs:
        raise SignatureError("X-PagerDuty-Signature has no v1=<hex> signature", field="X-PagerDuty-Signature")
    if not _any_equal(sigs, [hmac_hex(s, body) for s in secrets]):
        raise SignatureError("X-PagerDuty-Signature does not match the body", field="X-PagerDuty-Signature")


def verify_grafana(
    body: bytes,
    headers: Mapping[str, str],
    secret: str,
    *,
    signature_headers: Sequence[str] = GRAFANA_SIGNATURE_HEADERS,
    timestamp_header: str | None = None,
    tolerance: float | None = 300.0,
    now: float | None = None,
) -> None:
    """Check Grafana's HMAC: hex of HMAC(secret, body) or of ``"<ts>:" + body``."""
    sig = next((v for h in signature_headers if (v := _header(headers, h))), None)
    name = signature_headers[0] if signature_headers else "signature"
    if not sig:
        raise SignatureError(f"missing Grafana signature header (one of {list(signature_headers)})", field=name)
    message = body
    if timestamp_header:
        ts = _header(headers, timestamp_header)
        if not ts:
            raise SignatureError(f"missing {timestamp_header} header", field=timestamp_header)
        try:
            ts_value = float(ts)
        except ValueError:
            raise SignatureError(f"{timestamp_header} must be unix seconds", field=timestamp_header) from None
        if tolerance is not None and abs((time.time() if now is None else now) - ts_value) > tolerance:
            raise SignatureError(f"{timestamp_header} is more than {tolerance:g}s away from now", field=timestamp_header)
        message = ts.strip().encode() + b":" + body
    if not _any_equal([sig], [hmac_hex(secret, message)]):
        raise SignatureError("the Grafana signature does not match the body", field=name)


def verify_bearer(authorization: str | None, tokens: Sequence[str], *, setting: str = "RCA_ALERTMANAGER_TOKEN") -> None:
    """Check ``Authorization: Bearer <token>`` against the configured tokens."""
    if not tokens:
        raise SignatureError(f"this webhook is not configured: set {setting}", field="Authorization")
    if not authorization:
        raise SignatureError("missing Authorization header (Bearer token)", field="Authorization")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise SignatureError("Authorization must be 'Bearer <token>'", field="Authorization")
    if not _any_equal_raw(token.strip(), tokens):
        raise SignatureError("the bearer token is not valid", field="Authorization")


def verify_token(value: str | None, tokens: Sequence[str], *, header: str, setting: str) -> None:
    """Check a shared token sent in ``header``."""
    if not tokens:
        raise SignatureError(f"this webhook is not configured: set {setting}", field=header)
    if not value:
        raise SignatureError(f"missing {header} header", field=header)
    if not _any_equal_raw(value.strip(), tokens):
        raise SignatureError(f"the {header} token is not valid", field=header)


def _any_equal_raw(given: str, tokens: Sequence[str]) -> bool:
    ok = False
    g = hashlib.sha256(given.encode()).digest()
    for t in tokens:
        # Hash first so token lengths do not leak through timing.
        ok |= hmac.compare_digest(g, hashlib.sha256(t.encode()).digest())
    return ok


def sign_outbound(body: bytes, secret: str, *, timestamp: int | None = None) -> str:
    """The ``X-RCA-Signature`` value for ``body``: ``t=<unix>,v1=<hex>``."""
    t = int(time.time()) if timestamp is None else int(timestamp)
    return f"t={t},v1={hmac_hex(secret, str(t).encode() + b'.' + body)}"


def verify_outbound_signature(
    body: bytes, header: str | None, secret: str, *, tolerance: float = 300.0, now: float | None = None
) -> None:
    """Verify an ``X-RCA-Signature`` header as a receiver of our webhooks should.

    Rejects a missing or malformed header, a timestamp more than ``tolerance``
    seconds from ``now`` (replays), and a signature that does not match.

    Examples
    --------
    >>> h = sign_outbound(b'{}', "s3cret", timestamp=1700000000)
    >>> verify_outbound_signature(b'{}', h, "s3cret", now=1700000010)
    """
    if not header:
        raise SignatureError(f"missing {OUTBOUND_SIGNATURE_HEADER} header", field=OUTBOUND_SIGNATURE_HEADER)
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        k, _, v = item.strip().partition("=")
        parts.setdefault(k, []).append(v)
    try:
        t = int(parts["t"][0])
    except (KeyError, ValueError):
        raise SignatureError(f"{OUTBOUND_SIGNATURE_HEADER} has no t=<unix seconds>", field=OUTBOUND_SIGNATURE_HEADER) from None
    if abs((time.time() if now is None else now) - t) > tolerance:
        raise SignatureError(
            f"{OUTBOUND_SIGNATURE_HEADER} timestamp is more than {tolerance:g}s from now (replay?)",
            field=OUTBOUND_SIGNATURE_HEADER,
        )
    expected = hmac_hex(secret, str(t).encode() + b"." + body)
    if not _any_equal(parts.get("v1", []), [expected]):
        raise SignatureError(f"{OUTBOUND_SIGNATURE_HEADER} does not match the body", field=OUTBOUND_SIGNATURE_HEADER)
