"""Settings (environment, config file, precedence), their documentation, and the CLI commands."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rca.service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def _api_readme() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start, end = text.index("<!-- BEGIN api -->"), text.index("<!-- END api -->")
    return text[start:end]


def test_every_setting_is_documented_in_the_readme() -> None:
    documented = set(re.findall(r"`(RCA_[A-Z0-9_]+)`", _api_readme()))
    expected = {f"RCA_{name.upper()}" for name in Settings.model_fields} | {"RCA_CONFIG_FILE"}
    assert expected - documented == set(), "settings missing from the README's table"
    assert documented - expected - {"RCA_TEST_POSTGRES_URL"} == set(), "README documents settings that do not exist"


def test_environment_beats_config_file_beats_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "rca.toml"
    cfg.write_text('workers = 5\nmax_body_bytes = 4096\ndatabase_url = "sqlite:///x.db"\n')
    monkeypatch.setenv("RCA_CONFIG_FILE", str(cfg))
    monkeypatch.setenv("RCA_WORKERS", "7")
    s = Settings()
    assert (s.workers, s.max_body_bytes, s.database_url) == (7, 4096, "sqlite:///x.db")
    assert s.analysis_timeout_seconds == Settings.model_fields["analysis_timeout_seconds"].default


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_yaml_and_json_config_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str) -> None:
    cfg = tmp_path / f"rca{suffix}"
    cfg.write_text('{"workers": 3, "auth_disabled": true}')  # JSON is YAML too
    monkeypatch.setenv("RCA_CONFIG_FILE", str(cfg))
    s = Settings()
    assert (s.workers, s.auth_disabled) == (3, True)


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [("rca.ini", "x", "must end in .toml"), ("missing.toml", None, "does not exist")],
)
def test_bad_config_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, content: str | None, match: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    monkeypatch.setenv("RCA_CONFIG_FILE", str(path))
    with pytest.raises(ValueError, match=match):
        Settings()


def test_auth_is_on_unless_disabled_explicitly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RCA_AUTH_DISABLED", raising=False)
    assert Settings().auth_disabled is False
    monkeypatch.setenv("RCA_AUTH_DISABLED", "true")
    assert Settings().auth_disabled is True


def test_default_database_is_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path, database_url=None)
    assert s.resolved_database_url == f"sqlite:///{tmp_path.resolve() / 'rca.db'}"


@pytest.mark.parametrize(
    ("env", "value"),
    [("RCA_WORKERS", "-1"), ("RCA_MAX_BODY_BYTES", "ten"), ("RCA_LOG_LEVEL", "chatty"), ("RCA_ANALYSIS_TIMEOUT_SECONDS", "0")],
)
def test_bad_settings_are_refused(monkeypatch: pytest.MonkeyPatch, env: str, value: str) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ValueError, match=env.removeprefix("RCA_").lower()):
        Settings()


# -- CLI -------------------------------------------------------------------------
def _cli():  # type: ignore[no-untyped-def]
    try:
        from typer.testing import CliRunner

        import rca.cli
    except ImportError as exc:  # the CLI package imports every sub-command module
        pytest.skip(f"the rca CLI does not import yet: {exc}")
    return CliRunner(), rca.cli.app


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["serve", "--workers", "-1"], "Invalid value for '--workers'"),
        (["serve", "--port", "99999"], "Invalid value for '--port'"),
        (["api-key", "create", "--scope", "admin"], "unknown scope 'admin'"),
        (["serve", "--database", "not a url"], "not a database URL"),
        (["serve", "--database", "postgresql+psycopg://nobody@127.0.0.1:1/none"], "cannot reach the database"),
    ],
)
def test_cli_mistakes_are_one_line(args: list[str], message: str, tmp_path: Path) -> None:
    runner, app = _cli()
    result = runner.invoke(app, [*args, *(["--data-dir", str(tmp_path)] if args[0] == "api-key" else [])])
    assert result.exit_code in (1, 2)
    assert message in result.output
    assert "Traceback" not in result.output


def test_cli_creates_a_working_key(tmp_path: Path) -> None:
    runner, app = _cli()
    result = runner.invoke(app, ["api-key", "create", "--scope", "read", "--scope", "write", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    assert token.startswith("rca_")
    from rca.service.security import hash_token
    from rca.store import repository as repo
    from rca.store.session import Database

    db = Database(f"sqlite:///{tmp_path / 'rca.db'}")
    with db.session() as s:
        row = repo.find_api_key(s, hash_token(token))
        assert row is not None and row.scopes == "read write"
    db.dispose()


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("127.0.0.1:8786", "use a scheduler address such as 'tcp://HOST:8786' or 'local:N'"),
        ("local:0", "'local:N' needs N worker processes in 1..256"),
        ("local:x", "'local:N' needs N worker processes in 1..256"),
    ],
)
def test_a_bad_scheduler_setting_is_refused_with_the_fix(value: str, match: str) -> None:
    with pytest.raises(ValueError, match=re.escape(match)):
        Settings(dask_scheduler=value)


def test_no_dask_scheduler_keeps_jobs_in_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RCA_DASK_SCHEDULER", raising=False)
    assert Settings(dask_scheduler="  ").dask_scheduler is None
    assert Settings().dask_scheduler is None
