from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from rca.integrations.alerts.settings import AlertSettings

ROOT = Path(__file__).resolve().parents[2]


def _alerts_readme() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return text[text.index("<!-- BEGIN alerts -->") : text.index("<!-- END alerts -->")]


def test_every_alert_setting_is_documented_in_the_readme() -> None:
    documented = set(re.findall(r"`(RCA_[A-Z0-9_]+)`", _alerts_readme()))
    expected = {f"RCA_{name.upper()}" for name in AlertSettings.model_fields}
    assert expected - documented == set(), "settings missing from the README's alerts section"
    assert documented - expected == set(), "the alerts section names settings that do not exist"


def test_lists_and_maps_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RCA_PAGERDUTY_WEBHOOK_SECRETS", "old, new")
    monkeypatch.setenv("RCA_ALERTMANAGER_TOKENS", '["a", "b"]')
    monkeypatch.setenv("RCA_ALERT_SERVICE_MAP", '{"API Service": "api"}')
    monkeypatch.setenv("RCA_NOTIFY_TARGETS", '{"alertmanager": ["webhook"]}')
    s = AlertSettings()
    assert s.pagerduty_webhook_secrets == ["old", "new"] and s.alertmanager_tokens == ["a", "b"]
    assert s.parser_config().service_map == {"API Service": "api"}
    assert s.notify_targets == {"alertmanager": ["webhook"]}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"notify_targets": {"alertmanager": ["pagerduty_note"]}}, "only the pagerduty source has one"),
        ({"notify_targets": {"alertmanager": ["fax"]}}, "unknown target 'fax'"),
        ({"notify_targets": {"nagios": ["slack"]}}, "unknown alert source 'nagios'"),
        ({"opsgenie_service_from": "teams"}, "tags, entity or details"),
        ({"pagerduty_api_token": "k"}, "RCA_PAGERDUTY_FROM"),
        ({"alert_depth": 0}, "greater than or equal to 1"),
    ],
)
def test_invalid_settings_say_what_is_wrong(kwargs: dict, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        AlertSettings(**kwargs)


MODULES = ["rca.integrations.alerts.settings", "rca.store.alerts", "rca.integrations.alerts.worker", "rca.integrations.notify.outbox"]


def test_modules_import_first_in_a_fresh_process() -> None:
    # rca.service imports the webhook routes, which use these modules: no import order may break.
    procs = {m: subprocess.Popen([sys.executable, "-c", f"import {m}"], stderr=subprocess.PIPE, text=True) for m in MODULES}
    failed = {}
    for m, p in procs.items():
        _, err = p.communicate(timeout=120)
        if p.returncode:
            failed[m] = err[-1000:]
    assert failed == {}
