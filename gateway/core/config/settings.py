"""The settings object: every file's sections together, with the checks that span them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import (
    Field,
    model_validator,
)

from gateway.core.config.layout import DEFAULT_PROFILE, PROJECT_ROOT
from gateway.core.config.partners import Partner, Wallet
from gateway.core.config.problems import _fail
from gateway.core.config.sections import _Sections


class Settings(_Sections):
    """Everything the gateway, its workers, CLI and sandboxes read from configuration.

    Build it with `load_settings`; constructing it directly (tests) skips the cross-file checks.
    `wallets` is keyed by id; `partners` is sorted by id.
    """

    wallets: dict[str, Wallet] = {}
    partners: tuple[Partner, ...] = ()
    profile: str = DEFAULT_PROFILE
    config_dir: Path = Field(default_factory=lambda: PROJECT_ROOT / "configs")

    @property
    def project_root(self) -> Path:
        return self.config_dir.parent

    def partner(self, partner_id: str) -> Partner:
        """The partner with this id; `KeyError` if there is none."""
        for partner in self.partners:
            if partner.id == partner_id:
                return partner
        raise KeyError(partner_id)

    def partner_timeouts(self, partner: Partner) -> dict[str, float]:
        """Seconds per `adapters.Operation` value for the partner's adapter (connect excluded:
        see `partner.timeouts.connect`)."""
        return {op: s for op, s in partner.timeouts.as_seconds.items() if op != "connect"}

    def wallet_for_code(self, code: str) -> Wallet | None:
        """The wallet whose longest prefix starts the code, if the code's length fits it."""
        matches = [
            (len(prefix), wallet)
            for wallet in self.wallets.values()
            for prefix in wallet.prefixes
            if code.startswith(prefix)
        ]
        if not matches:
            return None
        wallet = max(matches, key=lambda item: item[0])[1]
        return wallet if wallet.matches(code) else None

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        problems = _schedule_problems(self)  # load_settings reports them all; here the first
        if problems:
            key, message, fix = problems[0]
            raise _fail(message, fix, key=key)
        return self


def _schedule_problems(settings: Settings) -> list[tuple[str, str, str]]:
    """Checks across sections and partners: (dotted key, message, fix) for each one broken."""
    problems: list[tuple[str, str, str]] = []
    sandbox, durations = settings.sandbox, settings.durations
    pay_timeouts = [("partner_defaults.timeouts.pay", settings.partner_defaults.timeouts.pay)]
    pay_timeouts += [
        (f"partner {p.id}'s timeouts.pay", p.timeouts.pay)
        for p in settings.partners
        if p.sandbox.enabled
    ]
    for what, pay in pay_timeouts:
        if sandbox.hold <= pay:
            problems.append(
                (
                    "sandbox.hold",
                    f"must exceed the pay timeout ({what}), or test code 0091 never times out",
                    f"raise sandbox.hold above {what}",
                )
            )
    for name, code in (("confirm", "0093"), ("expire", "0094")):
        if getattr(sandbox, name) >= durations.inquiry_deadline:
            problems.append(
                (
                    f"sandbox.{name}",
                    f"must be shorter than durations.inquiry_deadline, or test code {code} "
                    "is cancelled before inquiry sees its end",
                    f"lower sandbox.{name} or raise durations.inquiry_deadline",
                )
            )
    if durations.order_code_lifetime > durations.quote_lifetime:
        problems.append(
            (
                "durations.order_code_lifetime",
                "must not outlast durations.quote_lifetime: a code (or an entry order) is paid "
                "at the rate quoted when it was made",
                "lower durations.order_code_lifetime or raise durations.quote_lifetime",
            )
        )
    timeouts = [settings.partner_defaults.timeouts] + [p.timeouts for p in settings.partners]
    if durations.lease_duration <= max(t.longest for t in timeouts):
        problems.append(
            (
                "durations.lease_duration",
                "must outlast the longest partner timeout",
                "raise durations.lease_duration",
            )
        )
    webhook = settings.webhooks.timeout
    if durations.lease_duration <= webhook + max(timedelta(milliseconds=500), webhook / 4):
        problems.append(
            (
                "durations.lease_duration",
                "must outlast a webhook delivery (webhooks.timeout, plus a quarter of it or "
                "500ms at least), or two processes could deliver one event at once",
                "raise durations.lease_duration or lower webhooks.timeout",
            )
        )
    partner_ids = {p.id for p in settings.partners}
    for index, source in enumerate(settings.fx.sources):
        if source.kind == "partner" and source.partner not in partner_ids:
            problems.append(
                (
                    f"fx.sources[{index}].partner",
                    f"no partner {source.partner!r} is configured",
                    f"name one of {', '.join(sorted(partner_ids)) or '(none)'}",
                )
            )
    ports: dict[int, str] = {settings.server.port: "server.port"}
    for partner in settings.partners:
        if not partner.sandbox.enabled:
            continue
        port = partner.port
        if port in ports:
            problems.append(
                (
                    f"partners.{partner.id}.sandbox.port",
                    f"sandbox port {port} is also used by {ports[port]}",
                    "give each sandbox its own port (sandbox.port, or the port in base_url)",
                )
            )
        ports[port] = f"partner {partner.id}'s sandbox"
    return problems
