"""One settings object, read from the environment once (by the caller) and injected.

Nothing in the code base reads ``os.environ`` except :meth:`Settings.from_env`; tests build
``Settings`` directly. The embedded default needs no variable at all.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

DEFAULT_OPERATOR_EMAIL = "operator@exchange.demo"
DEFAULT_OPERATOR_PASSWORD = "demo-pass-2026"  # noqa: S105 - the documented demo credential


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("data")
    database_url: str = ""
    redis_url: str | None = None
    auction_rules: str = "spc2016"
    payments: str = "offline"
    registry: str = "sandbox"
    sandbox_registry_enabled: bool = True
    secret_key: str = ""
    operator_email: str = DEFAULT_OPERATOR_EMAIL
    operator_password: str = DEFAULT_OPERATOR_PASSWORD
    host: str = "127.0.0.1"
    port: int = 8000
    cookie_secure: bool = False
    behind_tls: bool = False
    token_ttl_seconds: int = 12 * 3600
    session_ttl_seconds: int = 8 * 3600
    stripe_api_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_api_base: str | None = None
    epo_ops_key: str | None = None
    epo_ops_secret: str | None = None
    log_level: str = "INFO"
    log_json: bool = False
    scheduler_enabled: bool = True
    scheduler_interval_seconds: float = 1.0
    max_body_bytes: int = 1_048_576
    max_upload_bytes: int = 10 * 1_048_576
    extra: Mapping[str, str] = field(default_factory=dict)
    rate_limits_enabled: bool = True
    rate_limit_exempt_loopback: bool = True
    login_limit_per_ip: int = 300
    login_limit_per_account: int = 30
    login_limit_window_seconds: int = 60
    bid_limit_per_user: int = 1200
    bid_limit_per_ip: int = 12000
    bid_limit_window_seconds: int = 60
    ws_connections_per_client: int = 100
    bid_fast_path: bool = True

    def __post_init__(self) -> None:
        if not self.database_url:
            db_path = (self.data_dir / "marketplace.db").resolve()
            object.__setattr__(self, "database_url", f"sqlite+aiosqlite:///{db_path}")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def setup(self) -> str:
        return "embedded" if self.is_sqlite and not self.redis_url else "production"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    def resolved_secret_key(self) -> str:
        """The configured key, or one generated once and kept in the data directory."""
        if self.secret_key:
            return self.secret_key
        key_file = self.data_dir / "secret.key"
        if key_file.exists():
            return key_file.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        key_file.write_text(key)
        key_file.chmod(0o600)
        return key

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        data_dir = Path(env.get("DATA_DIR", "data"))
        return cls(
            data_dir=data_dir,
            database_url=env.get("DATABASE_URL", ""),
            redis_url=env.get("REDIS_URL") or None,
            auction_rules=env.get("AUCTION_RULES", "spc2016"),
            payments=env.get("PAYMENTS", "offline"),
            registry=env.get("REGISTRY", "sandbox"),
            sandbox_registry_enabled=_bool(env.get("SANDBOX_REGISTRY"), True),
            secret_key=env.get("SECRET_KEY", ""),
            operator_email=env.get("OPERATOR_EMAIL", DEFAULT_OPERATOR_EMAIL),
            operator_password=env.get("OPERATOR_PASSWORD", DEFAULT_OPERATOR_PASSWORD),
            host=env.get("HOST", "127.0.0.1"),
            port=int(env.get("PORT", "8000")),
            cookie_secure=_bool(env.get("COOKIE_SECURE"), False),
            behind_tls=_bool(env.get("BEHIND_TLS"), False),
            stripe_api_key=env.get("STRIPE_API_KEY") or None,
            stripe_webhook_secret=env.get("STRIPE_WEBHOOK_SECRET") or None,
            stripe_api_base=env.get("STRIPE_API_BASE") or None,
            epo_ops_key=env.get("EPO_OPS_KEY") or None,
            epo_ops_secret=env.get("EPO_OPS_SECRET") or None,
            log_level=env.get("LOG_LEVEL", "INFO"),
            log_json=_bool(env.get("LOG_JSON"), False),
            scheduler_enabled=_bool(env.get("SCHEDULER"), True),
            rate_limits_enabled=_bool(env.get("RATE_LIMITS"), True),
            bid_fast_path=_bool(env.get("BID_FAST_PATH"), True),
            rate_limit_exempt_loopback=_bool(env.get("RATE_LIMIT_EXEMPT_LOOPBACK"), True),
            login_limit_per_ip=int(env.get("LOGIN_LIMIT_PER_IP", "300")),
            login_limit_per_account=int(env.get("LOGIN_LIMIT_PER_ACCOUNT", "30")),
            login_limit_window_seconds=int(env.get("LOGIN_LIMIT_WINDOW_SECONDS", "60")),
            bid_limit_per_user=int(env.get("BID_LIMIT_PER_USER", "1200")),
            bid_limit_per_ip=int(env.get("BID_LIMIT_PER_IP", "12000")),
            bid_limit_window_seconds=int(env.get("BID_LIMIT_WINDOW_SECONDS", "60")),
            ws_connections_per_client=int(env.get("WS_CONNECTIONS_PER_CLIENT", "100")),
        )
