"""Who may post tickets: each check raises :class:`~rca.integrations.alerts.signatures.SignatureError` (401).

* ServiceNow: a shared token in a header (``RCA_SERVICENOW_TOKEN_HEADER``) or HTTP Basic
  (``RCA_SERVICENOW_BASIC_AUTH`` ``user:password`` pairs), whichever the REST message sets.
* Jira: ``X-Hub-Signature: sha256=<hex HMAC-SHA256 of the body>`` with a webhook secret
  (Jira Cloud admin webhooks, WebSub style), or a shared token (Automation "Send web request").
* Splunk: the token in the URL query (``?token=...``): the webhook alert action sends no
  custom headers, so this route alone accepts a token there; a header works too.
* Dynatrace and generic mappings: a token header or ``Authorization: Bearer``; a generic mapping
  may use an HMAC of the body instead.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence

from rca.integrations.alerts.signatures import (
    SignatureError,
    _any_equal,
    _any_equal_raw,
    _header,
    hmac_hex,
)

__all__ = ["verify_token_or_bearer", "verify_servicenow", "verify_jira", "verify_hmac_header"]


def _bearer(headers: Mapping[str, str]) -> str | None:
    auth = _header(headers, "authorization") or ""
    scheme, _, token = auth.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def verify_token_or_bearer(
    headers: Mapping[str, str], tokens: Sequence[str], *, header: str, setting: str, query_token: str | None = None
) -> None:
    """A shared token in ``header``, ``Authorization: Bearer``, or (Splunk only) the query string."""
    if not tokens:
        raise SignatureError(f"this webhook is not configured: set {setting}", field=header)
    given = [t for t in (_header(headers, header), _bearer(headers), query_token) if t]
    if not given:
        where = f"{header} header, Authorization: Bearer" + (" or ?token=" if query_token is not None else "")
        raise SignatureError(f"missing token ({where})", field=header)
    if not any(_any_equal_raw(g.strip(), tokens) for g in given):
        raise SignatureError("the token is not valid", field=header)


def verify_servicenow(headers: Mapping[str, str], tokens: Sequence[str], basic: Sequence[str], *, header: str) -> None:
    """A token in ``header`` or HTTP Basic credentials."""
    if not tokens and not basic:
        raise SignatureError("this webhook is not configured: set RCA_SERVICENOW_TOKENS or RCA_SERVICENOW_BASIC_AUTH",
                             field=header)
    auth = _header(headers, "authorization") or ""
    scheme, _, value = auth.strip().partition(" ")
    if scheme.lower() == "basic" and basic:
        try:
            pair = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise SignatureError("Authorization: Basic is not base64 user:password", field="Authorization") from None
        if _any_equal_raw(pair, basic):
            return
        raise SignatureError("the Basic credentials are not valid", field="Authorization")
    token = _header(headers, header)
    if token and tokens:
        if _any_equal_raw(token.strip(), tokens):
            return
        raise SignatureError(f"the {header} token is not valid", field=header)
    raise SignatureError(f"missing {header} header or Authorization: Basic", field=header)


def verify_hmac_header(body: bytes, headers: Mapping[str, str], secrets: Sequence[str], *, header: str, prefix: str) -> None:
    """``header: <prefix><hex HMAC-SHA256 of body>`` against any of ``secrets``."""
    value = _header(headers, header)
    if not value:
        raise SignatureError(f"missing {header} header", field=header)
    value = value.strip()
    if prefix and not value.lower().startswith(prefix.lower()):
        raise SignatureError(f"{header} must be {prefix}<hex>", field=header)
    if not _any_equal([value[len(prefix):]], [hmac_hex(s, body) for s in secrets]):
        raise SignatureError(f"{header} does not match the body", field=header)


def verify_jira(body: bytes, headers: Mapping[str, str], secrets: Sequence[str], tokens: Sequence[str], *, header: str) -> None:
    """``X-Hub-Signature: sha256=<hex>`` when it is sent (or only secrets are set), else a shared token."""
    if not secrets and not tokens:
        raise SignatureError("this webhook is not configured: set RCA_JIRA_WEBHOOK_SECRETS or RCA_JIRA_TOKENS",
                             field="X-Hub-Signature")
    if secrets and (_header(headers, "x-hub-signature") or not tokens):
        verify_hmac_header(body, headers, secrets, header="X-Hub-Signature", prefix="sha256=")
        return
    verify_token_or_bearer(headers, tokens, header=header, setting="RCA_JIRA_TOKENS")
