"""Settings read from the environment, once, at start-up."""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_SECRET = "dev-secret-change-me"  # noqa: S105 - a known placeholder that production refuses
SUPPORTED_LOCALES = ("de", "en")


class ConfigError(RuntimeError):
    """The environment describes a configuration we refuse to run with."""


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite+aiosqlite:///./incentives.db"
    redis_url: str | None = None
    secret_key: str = DEFAULT_SECRET
    base_url: str = "http://127.0.0.1:8000"
    smtp_url: str | None = None
    # The From of every e-mail; by default an address at BASE_URL's host.
    mail_from: str | None = None
    default_locale: str = "en"
    environment: str = "development"
    session_max_age: int = 12 * 3600
    max_body_bytes: int = 1_000_000
    login_attempts_per_window: int = 5
    login_window_seconds: int = 900
    # Without Redis the web app runs the periodic sweeps itself every this many seconds (0: never).
    sweep_interval_seconds: int = 60
    # Database connections each web process opens at start-up (at most its pool's 20), so that the first burst
    # of requests does not wait for connection set-ups; 0: open them on demand.
    warm_connections: int = 20
    # Web Push (RFC 8292): base64url of the raw P-256 private key (`incentives push keys` makes one); unset: off.
    vapid_private_key: str | None = None
    vapid_subject: str = "mailto:admin@localhost"

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @property
    def sender(self) -> str:
        """The From address of e-mails."""
        if self.mail_from:
            return self.mail_from
        host = self.base_url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0] or "localhost"
        return f"noreply@{host}"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        default = cls()
        settings = cls(
            database_url=env.get("DATABASE_URL") or default.database_url,
            redis_url=env.get("REDIS_URL") or None,
            secret_key=env.get("SECRET_KEY") or default.secret_key,
            base_url=(env.get("BASE_URL") or default.base_url).rstrip("/"),
            smtp_url=env.get("SMTP_URL") or None,
            mail_from=env.get("MAIL_FROM") or None,
            default_locale=env.get("DEFAULT_LOCALE") or default.default_locale,
            environment=env.get("INCENTIVES_ENV") or default.environment,
            session_max_age=_int(env, "SESSION_MAX_AGE", default.session_max_age),
            max_body_bytes=_int(env, "MAX_BODY_BYTES", default.max_body_bytes),
            sweep_interval_seconds=_int(env, "SWEEP_INTERVAL_SECONDS", default.sweep_interval_seconds),
            warm_connections=_int(env, "DB_WARM_CONNECTIONS", default.warm_connections),
            vapid_private_key=env.get("VAPID_PRIVATE_KEY") or None,
            vapid_subject=env.get("VAPID_SUBJECT") or default.vapid_subject,
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.environment not in ("development", "production", "test"):
            raise ConfigError(f"INCENTIVES_ENV must be development, production or test, not {self.environment!r}")
        if self.default_locale not in SUPPORTED_LOCALES:
            raise ConfigError(f"DEFAULT_LOCALE must be one of {', '.join(SUPPORTED_LOCALES)}")
        if self.production and (self.secret_key == DEFAULT_SECRET or len(self.secret_key) < 32):
            raise ConfigError("refusing to start in production without SECRET_KEY (at least 32 random characters)")
        if self.smtp_url is not None and not self.smtp_url.startswith(("smtp://", "smtps://")):
            raise ConfigError("SMTP_URL must start with smtp:// or smtps://")
        if not self.database_url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ConfigError("DATABASE_URL must start with sqlite+aiosqlite:// or postgresql+asyncpg://")


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, not {raw!r}") from exc
