"""Settings come from the environment and an optional TOML file."""

from __future__ import annotations

from pathlib import Path

from forcebridge.settings import Settings


def test_environment_variables_with_the_prefix_are_read(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FORCEBRIDGE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FORCEBRIDGE_ALLOWED_HOSTS", "127.0.0.1:8701, 127.0.0.1:8702")
    settings = Settings()
    assert settings.data_dir == tmp_path
    assert settings.allowed_hosts == ["127.0.0.1:8701", "127.0.0.1:8702"]
    assert settings.resolved_database_url == f"sqlite:///{(tmp_path / 'forcebridge.db').resolve()}"


def test_a_toml_file_fills_what_the_environment_does_not(monkeypatch, tmp_path: Path) -> None:
    config = tmp_path / "forcebridge.toml"
    config.write_text('port = 9000\nlog_level = "DEBUG"\n')
    monkeypatch.setenv("FORCEBRIDGE_CONFIG_FILE", str(config))
    monkeypatch.setenv("FORCEBRIDGE_LOG_LEVEL", "WARNING")
    settings = Settings()
    assert settings.port == 9000
    assert settings.log_level == "WARNING"
