"""Settings: defaults, the .env file, and one clear line for every wrong value."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import PROJECT_ROOT, Settings, SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No setting from the machine running the tests, and no stray .env."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)


def test_defaults_are_safe() -> None:
    settings = load_settings()
    assert settings.whatsapp_url == "https://web.whatsapp.com/"
    assert settings.headless is True
    assert settings.mongodb_uri is None and settings.gemini_api_key is None
    assert settings.profile_dir == Path("sessions/default")
    # The login QR grants the account: it must live in the private sessions folder.
    assert settings.qr_png_path.parent == settings.sessions_dir


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("AI_TIMEOUT_S", "soon", "setting AI_TIMEOUT_S: Input should be a valid number"),
        ("AI_TIMEOUT_S", "-1", "setting AI_TIMEOUT_S: Input should be greater than 0"),
        ("ACCOUNT", "my account", "setting ACCOUNT: expected 1 to 64 letters, digits, '_' or '-'"),
        ("WHATSAPP_URL", "web.whatsapp.com", "setting WHATSAPP_URL: expected an http:// or https:// address"),
        ("HEADLESS", "maybe", "setting HEADLESS: Input should be a valid boolean"),
        ("LOG_LEVEL", "verbose", "setting LOG_LEVEL: Input should be 'TRACE'"),
        ("OPERATOR_NUMBER", "call me", "setting OPERATOR_NUMBER: expected an international number"),
        ("WHATSAPP_START_ATTEMPTS", "-1", "setting WHATSAPP_START_ATTEMPTS: Input should be greater than or equal"),
        ("ALERT_WEBHOOK_URL", "hooks.example/x?token=abc", "setting ALERT_WEBHOOK_URL: expected an http://"),
    ],
)
def test_wrong_value_names_the_setting(monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as error:
        load_settings()
    message = str(error.value)
    assert message.startswith(expected)
    assert "\n" not in message
    assert "token=abc" not in message  # a webhook address may carry a secret


def test_wrong_mongodb_uri_is_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONGODB_URI", "mongo://operator:hunter2@db.example")
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert "setting MONGODB_URI: expected mongodb://" in str(error.value)
    assert "hunter2" not in str(error.value)


def test_env_file_is_read_and_environment_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("ACCOUNT=shop\nHISTORY_LIMIT=5\nGEMINI_API_KEY=\n", encoding="utf-8")
    monkeypatch.setenv("HISTORY_LIMIT", "7")
    settings = load_settings()
    assert settings.account == "shop"
    assert settings.history_limit == 7
    assert settings.gemini_api_key is None  # blank means unset


def test_example_file_is_valid_and_complete() -> None:
    example = PROJECT_ROOT / "config" / "bot.env.example"
    settings = Settings(_env_file=example)  # type: ignore[call-arg]
    assert settings.mongodb_uri == "mongodb://127.0.0.1:27017"
    text = example.read_text(encoding="utf-8")
    for name, field in Settings.model_fields.items():
        assert f"{name.upper()}=" in text, f"{name} is missing from bot.env.example"
        assert field.description, f"{name} has no description"


def test_cli_stops_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "run_bot.py"), "run"],
        env={"PATH": "/usr/bin:/bin", "AI_TIMEOUT_S": "soon"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: setting AI_TIMEOUT_S: Input should be a valid number, unable to parse string as a number (got 'soon')"
    ]
    assert "Traceback" not in result.stderr
