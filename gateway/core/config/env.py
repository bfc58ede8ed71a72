"""What the settings name but never hold: secrets read from the environment, and database URLs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from gateway.core.config.layout import GATEWAY_FILE, SANDBOX_KEYS_HINT
from gateway.core.config.problems import ConfigError, ConfigProblem, _display

if TYPE_CHECKING:
    from gateway.core.config.partners import Partner
    from gateway.core.config.settings import Settings


def _require_env(
    env: Mapping[str, str], var: str, file: str, key: str, fix: str
) -> str | ConfigProblem:
    value = env.get(var)
    if value:
        return value
    state = "is empty" if value == "" else "is not set"
    return ConfigProblem(file, key, f"environment variable {var} {state}", fix)


def resolve_credentials(partner: Partner, env: Mapping[str, str]) -> dict[str, str]:
    """The partner's secrets, read from the environment variables its file names.

    Raises `ConfigError` naming every variable that is missing or empty.
    """
    values: dict[str, str] = {}
    problems: list[ConfigProblem] = []
    for name, var in partner.credentials.items():
        found = _require_env(
            env, var, partner.source_file, f"credentials.{name}", SANDBOX_KEYS_HINT
        )
        if isinstance(found, ConfigProblem):
            problems.append(found)
        else:
            values[name] = found
    if problems:
        raise ConfigError(problems)
    return values


def resolve_sandbox_private_key(partner: Partner, env: Mapping[str, str]) -> str:
    """The PEM private key the partner's sandbox signs with."""
    var = partner.sandbox.private_key_env
    if var is None:
        raise ConfigError(
            [
                ConfigProblem(
                    partner.source_file,
                    "sandbox.private_key_env",
                    "no sandbox signing key is configured",
                    'add private_key_env = "<PARTNER>_SANDBOX_PRIVATE_KEY" under [sandbox]',
                )
            ]
        )
    found = _require_env(
        env, var, partner.source_file, "sandbox.private_key_env", SANDBOX_KEYS_HINT
    )
    if isinstance(found, ConfigProblem):
        raise ConfigError([found])
    return found


def resolve_code_hash_key(settings: Settings, env: Mapping[str, str]) -> bytes:
    """The HMAC key for wallet-code hashes (UTF-8 bytes of the variable's value)."""
    found = _require_env(
        env,
        settings.security.code_hash_key_env,
        _display(settings.config_dir / GATEWAY_FILE, settings.config_dir),
        "security.code_hash_key_env",
        "export it with a long random value, e.g. `export "
        f'{settings.security.code_hash_key_env}="$(openssl rand -hex 32)"`',
    )
    if isinstance(found, ConfigProblem):
        raise ConfigError([found])
    return found.encode()


def resolve_secrets_key(settings: Settings, env: Mapping[str, str]) -> bytes:
    """The key sealing merchants' secrets (UTF-8 bytes of the variable; at least 32 of them)."""
    var = settings.security.secrets_key_env
    file = _display(settings.config_dir / GATEWAY_FILE, settings.config_dir)
    fix = f'export it with a long random value, e.g. `export {var}="$(openssl rand -hex 32)"`'
    found = _require_env(env, var, file, "security.secrets_key_env", fix)
    if isinstance(found, ConfigProblem):
        raise ConfigError([found])
    key = found.encode()
    if len(key) < 32:
        # Never echo the value.
        raise ConfigError.single(
            file,
            "security.secrets_key_env",
            f"environment variable {var} is too short ({len(key)} bytes; at least 32)",
            fix,
        )
    return key
