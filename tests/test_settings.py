"""Settings come from the environment, are validated with a clear message and never show secrets."""

from __future__ import annotations

import pytest

from app.settings import DEFAULT_SECRET_KEY, Secret, SettingsError, load_settings

STRONG = "x" * 40


def test_defaults_are_the_embedded_sqlite_in_development():
    settings = load_settings({})
    assert (settings.database_url, settings.environment, settings.log_level) == (
        "sqlite+aiosqlite:///var/storefront.db",
        "development",
        "INFO",
    )
    assert settings.is_sqlite and settings.debug


def test_reads_every_variable():
    settings = load_settings(
        {
            "DATABASE_URL": "postgresql+asyncpg://u:p@db:5432/shop",
            "STOREFRONT_ENV": "production",
            "SECRET_KEY": STRONG,
            "LOG_LEVEL": "warning",
            "REDIS_URL": "redis://cache:6379/0",
            "DB_POOL_SIZE": "8",
        }
    )
    assert settings.url.host == "db" and not settings.is_sqlite
    assert (settings.environment, settings.log_level, settings.redis_url, settings.db_pool_size) == (
        "production",
        "WARNING",
        "redis://cache:6379/0",
        8,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"STOREFRONT_ENV": "production"}, "SECRET_KEY must be set to a private value"),
        ({"STOREFRONT_ENV": "production", "SECRET_KEY": DEFAULT_SECRET_KEY}, "SECRET_KEY must be set"),
        ({"STOREFRONT_ENV": "production", "SECRET_KEY": "short"}, "at least 32 characters"),
        ({"STOREFRONT_ENV": "staging"}, "STOREFRONT_ENV must be one of development, production, test"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL must be one of"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL must use one of sqlite+aiosqlite, postgresql+asyncpg"),
        ({"DATABASE_URL": "not a url"}, "DATABASE_URL is not a valid SQLAlchemy URL"),
        ({"DB_POOL_SIZE": "many"}, "DB_POOL_SIZE must be a whole number"),
        ({"DB_POOL_SIZE": "0"}, "DB_POOL_SIZE must be at least 1"),
        ({"FAST_EXECUTOR": "maybe"}, "FAST_EXECUTOR must be true or false"),
    ],
)
def test_bad_values_are_refused_with_a_clear_message(env, message):
    with pytest.raises(SettingsError, match=message.replace("+", r"\+")):
        load_settings(env)


def test_secrets_never_show_their_value():
    settings = load_settings({"SECRET_KEY": "hunter2-" + STRONG})
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in str(settings.secret_key)
    assert settings.secret_key == Secret("hunter2-" + STRONG)
    assert settings.secret_key.reveal() == "hunter2-" + STRONG
