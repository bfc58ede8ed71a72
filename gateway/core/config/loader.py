"""Reading a configuration directory: every file parsed and validated, every problem collected,
then one `ConfigError` or the `Settings`."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import (
    Any,
    Protocol,
    TypeVar,
)

from pydantic import (
    BaseModel,
    ValidationError,
)

from gateway.core.config.explain import _describe, _dotted, _lookup, _split_key
from gateway.core.config.fields import ProfileName, _is_currency
from gateway.core.config.layout import (
    DEFAULT_PROFILE,
    GATEWAY_FILE,
    PARTNERS_DIR,
    PROFILES_DIR,
    PROJECT_ROOT,
    WALLETS_FILE,
)
from gateway.core.config.partners import Partner, Wallet
from gateway.core.config.problems import ConfigError, ConfigProblem, _display
from gateway.core.config.sections import Timeouts, _Sections
from gateway.core.config.settings import Settings, _schedule_problems


class ProtocolLike(Protocol):
    """What the loader needs of an `adapters.PROTOCOLS` entry."""

    @property
    def name(self) -> str: ...

    @property
    def required_credentials(self) -> tuple[str, ...]: ...


def _protocols() -> Mapping[str, ProtocolLike]:
    # Looked up at each load (not at import) so that tests can swap the registry.
    from adapters import PROTOCOLS

    return PROTOCOLS


def default_config_dir(env: Mapping[str, str] = os.environ) -> Path:
    """`GATEWAY_CONFIG_DIR`, else `<project root>/configs`."""
    chosen = env.get("GATEWAY_CONFIG_DIR")
    return Path(chosen) if chosen else PROJECT_ROOT / "configs"


def load_settings(
    config_dir: Path | None = None,
    profile: str | None = None,
    env: Mapping[str, str] = os.environ,
) -> Settings:
    """Read, merge and validate the configuration; raise `ConfigError` listing every problem.

    `config_dir` defaults to `default_config_dir(env)`; `profile` to `GATEWAY_PROFILE` (none:
    gateway.toml alone). `DATABASE_URL` replaces `database.url`. Secrets are not read here
    (`resolve_credentials`), so commands that need none run without them.
    """
    directory = (config_dir if config_dir is not None else default_config_dir(env)).resolve()
    name = profile or env.get("GATEWAY_PROFILE") or DEFAULT_PROFILE
    return _Loader(directory, env).load(name)


def _deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


_TOML_LINE = re.compile(r"\(at line (\d+), column (\d+)\)")
_M = TypeVar("_M", bound=BaseModel)
Loc = tuple[int | str, ...]
Origin = Callable[[Loc], tuple[str, Loc]]


class _Loader:
    """Reads one configuration directory, collecting every problem before raising."""

    def __init__(self, config_dir: Path, env: Mapping[str, str]) -> None:
        self.dir = config_dir
        self.env = env
        self.context: dict[str, Any] = {"project_root": config_dir.parent}
        self.problems: list[ConfigProblem] = []
        self.overlay: dict[str, Any] = {}
        self.overlay_file = ""

    def show(self, path: Path) -> str:
        return _display(path, self.dir)

    def add(self, file: str, key: str, message: str, fix: str) -> None:
        self.problems.append(ConfigProblem(file, key, message, fix))

    def read(self, path: Path) -> dict[str, Any] | None:
        try:
            text = path.read_bytes().decode("utf-8")
        except FileNotFoundError:
            self.add(
                self.show(path),
                "",
                "file not found",
                "create it (the project ships examples under configs/), or set "
                "GATEWAY_CONFIG_DIR to the directory holding gateway.toml",
            )
            return None
        except (OSError, UnicodeDecodeError) as exc:
            self.add(self.show(path), "", f"cannot be read ({exc})", "save it as UTF-8 text")
            return None
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            match = _TOML_LINE.search(str(exc))
            self.add(
                self.show(path),
                f"line {match[1]}" if match else "",
                f"invalid TOML: {_TOML_LINE.sub('', str(exc)).strip()}",
                'correct the syntax there (strings need quotes, e.g. pay = "8s")',
            )
            return None

    def validate(self, model: type[_M], data: Any, origin: Origin) -> _M | None:
        try:
            return model.model_validate(data, context=self.context)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            failed_items = {error["loc"][:-1] for error in errors if error["loc"]}
            for error in errors:
                if error["type"] == "too_short" and error["loc"] in failed_items:
                    continue  # its items failed; they are reported, the count says nothing more
                loc = tuple(part for part in error["loc"] if part != "[key]")
                message, fix, loc = _describe(error, model, loc)
                file, key = origin(loc)
                self.add(file, _dotted(key), message, fix)
            return None

    def load(self, profile: str) -> Settings:
        if not self.dir.is_dir():
            raise ConfigError(
                [
                    ConfigProblem(
                        self.dir.as_posix(),
                        "",
                        "configuration directory not found",
                        "set GATEWAY_CONFIG_DIR to the directory holding gateway.toml",
                    )
                ]
            )
        sections = self.load_sections(profile)
        wallets, declared = self.load_wallets()
        defaults = sections.partner_defaults.timeouts if sections else Timeouts()
        partners = self.load_partners(wallets, declared, defaults)
        if self.problems or sections is None:
            raise ConfigError(self.problems)
        # Every part is valid: assemble without validating twice, then check across parts.
        settings = Settings.model_construct(
            **dict(sections),
            wallets=wallets,
            partners=tuple(partners.values()),
            profile=profile,
            config_dir=self.dir,
        )
        for key, message, fix in _schedule_problems(settings):
            file, loc = self.settings_origin(tuple(_split_key(key)), partners)
            self.add(file, _dotted(loc), message, fix)
        if self.problems:
            raise ConfigError(self.problems)
        return settings

    def load_sections(self, profile: str) -> _Sections | None:
        base_path = self.dir / GATEWAY_FILE
        base = self.read(base_path) or {}
        if profile != DEFAULT_PROFILE:
            overlay_path = self.dir / PROFILES_DIR / f"{profile}.toml"
            self.overlay_file = self.show(overlay_path)
            if not ProfileName.fullmatch(profile):
                self.add(
                    "GATEWAY_PROFILE",
                    "",
                    f"{profile!r} is not a profile name",
                    "use lower-case letters, digits, '-' or '_', e.g. 'test'",
                )
            elif not overlay_path.is_file():
                known = sorted(p.stem for p in (self.dir / PROFILES_DIR).glob("*.toml"))
                self.add(
                    self.overlay_file,
                    "",
                    f"profile {profile!r} has no file",
                    f"create it, or use one of: {', '.join(known) or '(none)'}",
                )
            else:
                self.overlay = self.read(overlay_path) or {}
        merged = _deep_merge(base, self.overlay)
        url = self.env.get("DATABASE_URL")
        if url:
            database = merged.get("database")
            merged["database"] = {**(database if isinstance(database, dict) else {}), "url": url}
        base_file = self.show(base_path)

        def origin(loc: Loc) -> tuple[str, Loc]:
            if url and loc[:2] == ("database", "url"):
                return "environment variable DATABASE_URL", loc
            if self.overlay and _lookup(self.overlay, loc):
                return self.overlay_file, loc
            return base_file, loc

        return self.validate(_Sections, merged, origin)

    def load_wallets(self) -> tuple[dict[str, Wallet], set[str]]:
        path = self.dir / WALLETS_FILE
        file = self.show(path)
        raw = self.read(path)
        if raw is None:
            return {}, set()
        for key in raw:
            if key != "wallets":
                self.add(
                    file,
                    _dotted([key]),
                    f"'{key}' is not a known key",
                    "put each wallet in its own [wallets.<id>] table",
                )
        tables = raw.get("wallets", {})
        if not isinstance(tables, dict):
            self.add(file, "wallets", "must be a table", "write [wallets.<id>] tables")
            return {}, set()
        wallets: dict[str, Wallet] = {}
        for wallet_id in sorted(tables):
            table = tables[wallet_id]
            where: Loc = ("wallets", wallet_id)
            if not isinstance(table, dict):
                self.add(file, _dotted(where), "must be a table", f"write [wallets.{wallet_id}]")
                continue
            if "id" in table and table["id"] != wallet_id:
                self.add(
                    file,
                    _dotted((*where, "id")),
                    f"{table['id']!r} differs from the table name '{wallet_id}'",
                    "remove the id key: the table name is the wallet id",
                )
                continue

            def origin(loc: Loc, where: Loc = where) -> tuple[str, Loc]:
                return file, where + loc

            wallet = self.validate(Wallet, {**table, "id": wallet_id}, origin)
            if wallet is not None:
                wallets[wallet_id] = wallet
        self.check_prefixes(file, wallets)
        return wallets, set(tables)

    def check_prefixes(self, file: str, wallets: Mapping[str, Wallet]) -> None:
        """No prefix may be shared by two wallets, nor start another wallet's prefix."""
        seen: list[tuple[str, str]] = []  # (prefix, wallet id) of the wallets before, by id
        for wallet in wallets.values():
            for index, prefix in enumerate(wallet.prefixes):
                for other_prefix, other in seen:
                    if prefix == other_prefix:
                        message = f"prefix '{prefix}' is also wallet {other}'s prefix"
                    elif prefix.startswith(other_prefix) or other_prefix.startswith(prefix):
                        message = (
                            f"prefix '{prefix}' overlaps wallet {other}'s prefix "
                            f"'{other_prefix}': a code could match both"
                        )
                    else:
                        continue
                    self.add(
                        file,
                        _dotted(("wallets", wallet.id, "prefixes", index)),
                        message,
                        "give each wallet prefixes that no other wallet's prefix starts with",
                    )
            seen.extend((prefix, wallet.id) for prefix in wallet.prefixes)

    def load_partners(
        self, wallets: Mapping[str, Wallet], declared: set[str], defaults: Timeouts
    ) -> dict[str, Partner]:
        protocols = _protocols()
        partners: dict[str, Partner] = {}
        for path in sorted((self.dir / PARTNERS_DIR).glob("*.toml")):
            raw = self.read(path)
            if raw is None:
                continue
            file = self.show(path)
            self.check_references(file, path.stem, raw, wallets, declared, protocols)
            data = dict(raw)
            overrides = raw.get("timeouts", {})
            if isinstance(overrides, dict):
                data["timeouts"] = {**dict(defaults), **overrides}

            def origin(loc: Loc, file: str = file) -> tuple[str, Loc]:
                return file, loc

            partner = self.validate(Partner, data, origin)
            if partner is not None:
                partner._source_file = file
                partners[partner.id] = partner
        return dict(sorted(partners.items()))

    def check_references(
        self,
        file: str,
        stem: str,
        raw: Mapping[str, Any],
        wallets: Mapping[str, Wallet],
        declared: set[str],
        protocols: Mapping[str, ProtocolLike],
    ) -> None:
        """A partner file against its name, the wallets and the adapters registry. Runs on the raw
        table, so it reports even when the partner has other mistakes."""
        partner_id = raw.get("id")
        if isinstance(partner_id, str) and partner_id != stem:
            self.add(
                file,
                "id",
                f"'{partner_id}' does not match the file name {stem}.toml",
                f'write id = "{stem}", or rename the file to {partner_id}.toml',
            )
        protocol = raw.get("protocol")
        spec = protocols.get(protocol) if isinstance(protocol, str) else None
        if isinstance(protocol, str) and spec is None:
            self.add(
                file,
                "protocol",
                f"'{protocol}' is not a known protocol family",
                f"use one of: {', '.join(sorted(protocols)) or '(no protocols registered)'}",
            )
        credentials = raw.get("credentials", {})
        if spec is not None and isinstance(credentials, dict):
            required = tuple(spec.required_credentials)
            # A registry entry may also list optional ones (e.g. key versions for rotation).
            allowed = required + tuple(getattr(spec, "optional_credentials", ()))
            env_prefix = stem.upper().replace("-", "_")
            for name in required:
                if name not in credentials:
                    self.add(
                        file,
                        _dotted(("credentials", name)),
                        f"missing: protocol {protocol} needs the credential '{name}'",
                        f'add {name} = "{env_prefix}_{name.upper()}" under [credentials] '
                        "(the NAME of the environment variable holding it)",
                    )
            for name in credentials:
                if name not in allowed:
                    self.add(
                        file,
                        _dotted(("credentials", name)),
                        f"'{name}' is not a credential of protocol {protocol}",
                        f"remove it; {protocol} takes: {', '.join(allowed)}",
                    )
        served = raw.get("wallets")
        if isinstance(served, dict):
            for wallet_id, currency in served.items():
                key = _dotted(("wallets", wallet_id))
                wallet = wallets.get(wallet_id)
                if wallet_id not in declared:
                    self.add(
                        file,
                        key,
                        f"'{wallet_id}' is not a wallet in {WALLETS_FILE}",
                        f"use one of: {', '.join(sorted(declared)) or '(none)'}; or add "
                        f"[wallets.{wallet_id}] to {WALLETS_FILE}",
                    )
                elif (
                    wallet is not None
                    and isinstance(currency, str)
                    and _is_currency(currency)
                    and currency != wallet.currency
                ):
                    self.add(
                        file,
                        key,
                        f"'{currency}' is not wallet {wallet_id}'s currency ({wallet.currency})",
                        f'write {wallet_id} = "{wallet.currency}"',
                    )

    def settings_origin(self, loc: Loc, partners: Mapping[str, Partner]) -> tuple[str, Loc]:
        """The file a key of the assembled settings came from."""
        if loc[:1] == ("partners",) and len(loc) > 1 and str(loc[1]) in partners:
            return partners[str(loc[1])].source_file, loc[2:]
        if loc[:1] == ("wallets",):
            return self.show(self.dir / WALLETS_FILE), loc
        if self.overlay and _lookup(self.overlay, loc):
            return self.overlay_file, loc
        return self.show(self.dir / GATEWAY_FILE), loc
