"""Settings come from `SIDEWALK_*` variables and an optional TOML file; the environment wins."""

from pathlib import Path

import pytest

from sidewalk.kernel.settings import Settings


def test_defaults_put_the_database_in_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIDEWALK_VAR_DIR", str(tmp_path))
    settings = Settings()
    assert settings.deliveries_url == f"sqlite:///{tmp_path.resolve() / 'deliveries.db'}"
    assert settings.quote_lifetime_s == 300


def test_a_settings_file_is_read_and_the_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = tmp_path / "sidewalk.toml"
    file.write_text(
        'quote_lifetime_s = 120\nrobot_speed_mps = 2.0\npublic_base_url = "https://x.test"\n'
    )
    monkeypatch.setenv("SIDEWALK_SETTINGS_FILE", str(file))
    monkeypatch.setenv("SIDEWALK_ROBOT_SPEED_MPS", "1.2")
    settings = Settings()
    assert settings.quote_lifetime_s == 120
    assert settings.robot_speed_mps == 1.2
    assert settings.public_base_url == "https://x.test"


def test_nonsense_settings_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIDEWALK_QUOTE_LIFETIME_S", "-5")
    with pytest.raises(ValueError, match="quote_lifetime_s"):
        Settings()


def test_a_webhook_lease_must_outlast_an_attempt() -> None:
    with pytest.raises(ValueError, match="webhook_lease_s"):
        Settings(webhook_timeout_s=10, webhook_lease_s=5)
    assert Settings(webhook_timeout_s=2, webhook_lease_s=6).webhook_lease_s == 6
