"""The gateway's one settings object, read from TOML under `configs/` and validated at start-up.

Layout of a configuration directory (the project ships `configs/`; `GATEWAY_CONFIG_DIR` picks
another):

    gateway.toml            server, database, security, fx, durations, partner_defaults, sandbox
    profiles/<name>.toml    an overlay deep-merged over gateway.toml (`test` is the fast profile)
    wallets.toml            [wallets.<id>]: payer currency and code prefixes
    partners/<id>.toml      one licensed local partner per file; `id` equals the file name

Every problem found is collected, across all files, before anything is raised: `ConfigError`
holds one `ConfigProblem` (file, key, message, fix) per mistake. Secrets are never values in these
files; the files name environment variables, read by `resolve_credentials` and friends.

Every duration is a string with a unit (`"8s"`, `"250ms"`, `"off"`), exposed as `timedelta`.

One module per job: `layout` (where files are), `fields` (value types), `sections`
(gateway.toml), `partners` (wallets.toml, partners/*.toml), `settings` (the whole),
`env` (secrets and database URLs), `problems` (mistakes and their fixes), `loader`.
"""

from gateway.core.config.env import (
    resolve_code_hash_key,
    resolve_credentials,
    resolve_sandbox_private_key,
    resolve_secrets_key,
)
from gateway.core.config.fields import normalise_database_url
from gateway.core.config.layout import PROJECT_ROOT
from gateway.core.config.loader import ProtocolLike, default_config_dir, load_settings
from gateway.core.config.partners import (
    AmountLimit,
    CodeLength,
    Fees,
    Licence,
    Partner,
    PartnerSandbox,
    RetryPolicy,
    Wallet,
)
from gateway.core.config.problems import ConfigError, ConfigProblem
from gateway.core.config.sections import (
    DatabaseSettings,
    Durations,
    FxSettings,
    PartnerDefaults,
    SandboxDelays,
    SecuritySettings,
    ServerSettings,
    Timeouts,
    WebhookSettings,
)
from gateway.core.config.settings import Settings

__all__ = [
    "PROJECT_ROOT",
    "AmountLimit",
    "CodeLength",
    "ConfigError",
    "ConfigProblem",
    "DatabaseSettings",
    "Durations",
    "Fees",
    "FxSettings",
    "Licence",
    "Partner",
    "PartnerDefaults",
    "PartnerSandbox",
    "ProtocolLike",
    "RetryPolicy",
    "SandboxDelays",
    "SecuritySettings",
    "ServerSettings",
    "Settings",
    "Timeouts",
    "Wallet",
    "WebhookSettings",
    "default_config_dir",
    "load_settings",
    "normalise_database_url",
    "resolve_code_hash_key",
    "resolve_credentials",
    "resolve_sandbox_private_key",
    "resolve_secrets_key",
]
