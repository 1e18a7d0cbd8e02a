from __future__ import annotations

import pytest

from incentives.config import DEFAULT_SECRET, ConfigError, Settings


def test_defaults_run_on_sqlite_without_redis() -> None:
    settings = Settings.from_env({})
    assert settings.database_url == "sqlite+aiosqlite:///./incentives.db"
    assert settings.redis_url is None
    assert settings.secret_key == DEFAULT_SECRET


def test_production_refuses_the_default_secret() -> None:
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        Settings.from_env({"INCENTIVES_ENV": "production"})
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        Settings.from_env({"INCENTIVES_ENV": "production", "SECRET_KEY": "short"})
    ok = Settings.from_env({"INCENTIVES_ENV": "production", "SECRET_KEY": "s" * 40})
    assert ok.production


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"DEFAULT_LOCALE": "fr"}, "DEFAULT_LOCALE"),
        ({"SESSION_MAX_AGE": "soon"}, "SESSION_MAX_AGE"),
        ({"INCENTIVES_ENV": "staging"}, "INCENTIVES_ENV"),
    ],
)
def test_bad_settings_are_refused_with_the_variable_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)
