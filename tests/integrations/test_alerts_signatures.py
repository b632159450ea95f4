from __future__ import annotations

import pytest

from rca.integrations.alerts.signatures import (
    SignatureError,
    hmac_hex,
    sign_outbound,
    verify_bearer,
    verify_grafana,
    verify_outbound_signature,
    verify_pagerduty,
    verify_token,
)

BODY = b'{"event": {"event_type": "incident.triggered"}}'


def test_pagerduty_single_and_rotated_signatures() -> None:
    verify_pagerduty(BODY, f"v1={hmac_hex('new', BODY)}", ["new"])
    # during rotation PagerDuty sends one signature per secret; any match suffices
    header = f"v1={hmac_hex('old', BODY)},v1={hmac_hex('new', BODY)}"
    verify_pagerduty(BODY, header, ["new"])
    verify_pagerduty(BODY, header, ["old"])
    # and we may hold several secrets ourselves
    verify_pagerduty(BODY, f"v1={hmac_hex('b', BODY)}", ["a", "b"])
    verify_pagerduty(BODY, f"v1={hmac_hex('b', BODY).upper()}", ["b"])


@pytest.mark.parametrize(
    ("header", "secrets", "match"),
    [
        (None, ["s"], "missing X-PagerDuty-Signature"),
        ("", ["s"], "missing X-PagerDuty-Signature"),
        ("sha256=abc", ["s"], "no v1=<hex>"),
        (f"v1={hmac_hex('other', BODY)}", ["s"], "does not match"),
        (f"v1={hmac_hex('s', BODY + b' ')}", ["s"], "does not match"),
        (f"v1={hmac_hex('s', BODY)}", [], "RCA_PAGERDUTY_WEBHOOK_SECRETS"),
    ],
)
def test_pagerduty_rejects(header: str | None, secrets: list[str], match: str) -> None:
    with pytest.raises(SignatureError, match=match) as info:
        verify_pagerduty(BODY, header, secrets)
    assert info.value.field == "X-PagerDuty-Signature"


@pytest.mark.parametrize("name", ["X-Grafana-Alerting-Signature", "X-Grafana-Alert-Signature", "x-grafana-alert-signature"])
def test_grafana_accepts_both_default_header_names(name: str) -> None:
    verify_grafana(BODY, {name: hmac_hex("g", BODY)}, "g")


def test_grafana_timestamped_signature_and_custom_headers() -> None:
    sig = hmac_hex("g", b"1700000000:" + BODY)
    headers = {"X-Sig": sig, "X-Ts": "1700000000"}
    verify_grafana(BODY, headers, "g", signature_headers=("X-Sig",), timestamp_header="X-Ts", now=1700000100)
    with pytest.raises(SignatureError, match="away from now"):
        verify_grafana(BODY, headers, "g", signature_headers=("X-Sig",), timestamp_header="X-Ts", now=1700009999)
    with pytest.raises(SignatureError, match="missing X-Ts"):
        verify_grafana(BODY, {"X-Sig": sig}, "g", signature_headers=("X-Sig",), timestamp_header="X-Ts")
    with pytest.raises(SignatureError, match="does not match"):
        verify_grafana(BODY, {"X-Sig": hmac_hex("g", BODY), "X-Ts": "1700000000"}, "g",
                       signature_headers=("X-Sig",), timestamp_header="X-Ts", now=1700000000)


def test_grafana_rejects_missing_and_wrong() -> None:
    with pytest.raises(SignatureError, match="missing Grafana signature header"):
        verify_grafana(BODY, {}, "g")
    with pytest.raises(SignatureError, match="does not match"):
        verify_grafana(BODY, {"X-Grafana-Alerting-Signature": hmac_hex("x", BODY)}, "g")


def test_bearer_and_shared_token() -> None:
    verify_bearer("Bearer t1", ["t0", "t1"])
    verify_bearer("bearer   t1 ", ["t1"])
    for value, match in [(None, "missing Authorization"), ("Basic dTpw", "must be 'Bearer <token>'"),
                         ("Bearer", "must be 'Bearer <token>'"), ("Bearer nope", "not valid")]:
        with pytest.raises(SignatureError, match=match):
            verify_bearer(value, ["t1"])
    with pytest.raises(SignatureError, match="set RCA_ALERTMANAGER_TOKEN"):
        verify_bearer("Bearer t1", [])
    verify_token("abc", ["abc"], header="X-RCA-Token", setting="RCA_OPSGENIE_TOKEN")
    with pytest.raises(SignatureError, match="missing X-RCA-Token"):
        verify_token(None, ["abc"], header="X-RCA-Token", setting="RCA_OPSGENIE_TOKEN")
    with pytest.raises(SignatureError, match="X-RCA-Token token is not valid"):
        verify_token("abd", ["abc"], header="X-RCA-Token", setting="RCA_OPSGENIE_TOKEN")


def test_outbound_signature_round_trip_and_replay_window() -> None:
    header = sign_outbound(BODY, "k", timestamp=1700000000)
    assert header == f"t=1700000000,v1={hmac_hex('k', b'1700000000.' + BODY)}"
    verify_outbound_signature(BODY, header, "k", now=1700000299)
    with pytest.raises(SignatureError, match="more than 300s from now"):
        verify_outbound_signature(BODY, header, "k", now=1700000301)
    with pytest.raises(SignatureError, match="does not match"):
        verify_outbound_signature(BODY + b"x", header, "k", now=1700000000)
    with pytest.raises(SignatureError, match="does not match"):
        verify_outbound_signature(BODY, header, "other", now=1700000000)
    with pytest.raises(SignatureError, match="no t="):
        verify_outbound_signature(BODY, "v1=abc", "k")
    with pytest.raises(SignatureError, match="missing X-RCA-Signature"):
        verify_outbound_signature(BODY, None, "k")
    # a changed timestamp invalidates the signature
    forged = header.replace("t=1700000000", "t=1700000100")
    with pytest.raises(SignatureError, match="does not match"):
        verify_outbound_signature(BODY, forged, "k", now=1700000100)
