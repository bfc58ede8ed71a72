"""Invalid configuration fails start-up with every problem named: file, key, message and fix."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

import adapters
from gateway.core.config import PROJECT_ROOT, ConfigError, load_settings

SHIPPED = PROJECT_ROOT / "configs"


@pytest.fixture
def configs(tmp_path: Path) -> Path:
    """A copy of the shipped configs/ in a fresh project root."""
    target = tmp_path / "configs"
    shutil.copytree(SHIPPED, target)
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def problems(
    configs: Path, profile: str | None = None, env: dict[str, str] | None = None
) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(configs, profile, env=env or {})
    lines = str(caught.value).splitlines()
    assert len(lines) == len(caught.value.problems)
    for problem in caught.value.problems:
        assert problem.file and problem.message and problem.fix, problem
        assert ". Fix: " in str(problem)
    return lines


TH = "configs/partners/th-siampay.toml"
JP = "configs/partners/jp-sakurapay.toml"


def test_market_not_iso_3166(configs: Path) -> None:
    edit(configs / "partners" / "jp-sakurapay.toml", 'markets = ["JP"]', 'markets = ["JP", "JX"]')
    assert problems(configs) == [
        f"{JP}: markets[1]: 'JX' is not an ISO 3166-1 alpha-2 country code. "
        "Fix: use a code such as 'JP'."
    ]


def test_market_codes_are_upper_case_and_real(configs: Path) -> None:
    edit(configs / "partners" / "th-siampay.toml", 'markets = ["TH"]', 'markets = ["XX", "th"]')
    assert problems(configs) == [
        f"{TH}: markets[0]: 'XX' is not an ISO 3166-1 alpha-2 country code. "
        "Fix: use a code such as 'TH'.",  # the country of the partner's time zone
        f"{TH}: markets[1]: 'th' is not an ISO 3166-1 alpha-2 country code. "
        "Fix: write it in upper case: 'TH'.",
    ]


def test_unknown_protocol_family(configs: Path) -> None:
    edit(configs / "partners" / "th-siampay.toml", '"alipayplus"', '"alipay"')
    families = ", ".join(sorted(adapters.PROTOCOLS))
    assert problems(configs) == [
        f"{TH}: protocol: 'alipay' is not a known protocol family. Fix: use one of: {families}."
    ]


def test_credentials_must_match_the_protocol(configs: Path) -> None:
    edit(
        configs / "partners" / "th-siampay.toml",
        'partner_public_key = "TH_SIAMPAY_PUBLIC_KEY"',
        'public_key = "TH_SIAMPAY_PUBLIC_KEY"',
    )
    assert problems(configs) == [
        f"{TH}: credentials.partner_public_key: missing: protocol alipayplus needs the credential "
        "'partner_public_key'. Fix: add partner_public_key = \"TH_SIAMPAY_PARTNER_PUBLIC_KEY\" "
        "under [credentials] (the NAME of the environment variable holding it).",
        f"{TH}: credentials.public_key: 'public_key' is not a credential of protocol alipayplus. "
        "Fix: remove it; alipayplus takes: client_id, private_key, partner_public_key, "
        "key_version, partner_key_version.",
    ]


def test_credentials_follow_the_registry(configs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The required names come from adapters.PROTOCOLS, whatever it holds."""

    @dataclasses.dataclass(frozen=True)
    class Spec:
        name: str
        required_credentials: tuple[str, ...]

    monkeypatch.setattr(adapters, "PROTOCOLS", {"alipayplus": Spec("alipayplus", ("api_key",))})
    lines = problems(configs)
    assert any(
        line.startswith(f"{TH}: credentials.api_key: missing: protocol alipayplus needs ")
        for line in lines
    )
    # Each shipped alipayplus partner names three credentials the stub registry does not know.
    shipped = [p for p in (configs / "partners").glob("*.toml") if "alipayplus" in p.read_text()]
    assert sum("is not a credential of protocol alipayplus" in line for line in lines) == 3 * len(
        shipped
    )


def test_credential_value_is_a_variable_name_never_a_secret(configs: Path) -> None:
    edit(
        configs / "partners" / "th-siampay.toml",
        '"TH_SIAMPAY_PRIVATE_KEY"',
        '"MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"',
    )
    [line] = problems(configs)
    assert line.startswith(f"{TH}: credentials.private_key: must be the NAME of an environment")
    assert "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC" not in line


def test_unknown_wallet_and_wrong_payer_currency(configs: Path) -> None:
    edit(
        configs / "partners" / "jp-sakurapay.toml", 'gcash = "PHP"', 'gcash = "JPY"\npaypay = "JPY"'
    )
    assert problems(configs) == [
        f"{JP}: wallets.gcash: 'JPY' is not wallet gcash's currency (PHP). "
        'Fix: write gcash = "PHP".',
        f"{JP}: wallets.paypay: 'paypay' is not a wallet in wallets.toml. Fix: use one of: "
        "alipay_cn, gcash, kakaopay, truemoney; or add [wallets.paypay] to wallets.toml.",
    ]


def test_negative_fees(configs: Path) -> None:
    edit(configs / "partners" / "th-siampay.toml", "bps = 60", "bps = -5")
    edit(configs / "partners" / "th-siampay.toml", "CNY = 10", "CNY = -1")
    assert problems(configs) == [
        f"{TH}: fees.bps: Input should be greater than or equal to 0 (got -5). "
        "Fix: use a value of at least 0.",
        f"{TH}: fees.fixed.CNY: Input should be greater than or equal to 0 (got -1). "
        "Fix: use a value of at least 0.",
    ]


def test_wallet_prefixes_must_not_collide(configs: Path) -> None:
    wallets = configs / "wallets.toml"
    edit(wallets, 'prefixes = ["63"]', 'prefixes = ["63", "28"]')  # gcash takes alipay_cn's
    edit(wallets, 'prefixes = ["81"]', 'prefixes = ["81", "6"]')  # kakaopay: "6" starts "63", "66"
    assert problems(configs) == [
        "configs/wallets.toml: wallets.gcash.prefixes[1]: prefix '28' is also wallet alipay_cn's "
        "prefix. Fix: give each wallet prefixes that no other wallet's prefix starts with.",
        "configs/wallets.toml: wallets.kakaopay.prefixes[1]: prefix '6' overlaps wallet gcash's "
        "prefix '63': a code could match both. "
        "Fix: give each wallet prefixes that no other wallet's prefix starts with.",
        "configs/wallets.toml: wallets.truemoney.prefixes[0]: prefix '66' overlaps wallet "
        "kakaopay's prefix '6': a code could match both. "
        "Fix: give each wallet prefixes that no other wallet's prefix starts with.",
    ]


def test_wallet_currency_and_prefix_shape(configs: Path) -> None:
    wallets = configs / "wallets.toml"
    edit(wallets, 'currency = "CNY"', 'currency = "cny"')
    edit(wallets, 'prefixes = ["81"]', 'prefixes = ["8a"]')
    edit(wallets, 'prefixes = ["63"]', "prefixes = []")
    assert problems(configs) == [
        "configs/wallets.toml: wallets.alipay_cn.currency: 'cny' is not an ISO 4217 code (codes "
        "are upper case). Fix: write 'CNY'.",
        "configs/wallets.toml: wallets.gcash.prefixes: needs at least 1 item(s). Fix: add them.",
        "configs/wallets.toml: wallets.kakaopay.prefixes[0]: '8a' is not a valid code prefix. "
        "Fix: use [0-9]{1,8}, e.g. '28'.",
    ]


def test_wallet_code_length(configs: Path) -> None:
    wallets = configs / "wallets.toml"
    edit(wallets, 'prefixes = ["81"]', 'prefixes = ["81"]\ncode_length = { min = 20, max = 18 }')
    edit(wallets, 'prefixes = ["66"]', 'prefixes = ["66"]\ncode_length = { min = 4, mix = 30 }')
    assert problems(configs) == [
        "configs/wallets.toml: wallets.kakaopay.code_length.max: max (18) is below min (20). "
        "Fix: swap them.",
        "configs/wallets.toml: wallets.truemoney.code_length.min: Input should be greater than or "
        "equal to 8 (got 4). Fix: use a value of at least 8.",
        "configs/wallets.toml: wallets.truemoney.code_length.mix: 'mix' is not a known key. "
        "Fix: did you mean 'min'?",
    ]


def test_bad_timezone(configs: Path) -> None:
    edit(configs / "partners" / "th-siampay.toml", '"Asia/Bangkok"', '"Asia/Bangkock"')
    assert problems(configs) == [
        f"{TH}: timezone: 'Asia/Bangkock' is not an IANA time zone. "
        "Fix: did you mean 'Asia/Bangkok'?"
    ]


@pytest.mark.parametrize("bad", ['"10 seconds"', "10", '"off"', '"0s"'])
def test_bad_duration(configs: Path, bad: str) -> None:
    edit(configs / "gateway.toml", 'pos_wait_budget = "10s"', f"pos_wait_budget = {bad}")
    [line] = problems(configs)
    assert line.startswith("configs/gateway.toml: durations.pos_wait_budget: ")
    if bad == "10":
        assert 'write "10s", not 10' in line


def test_unknown_keys_suggest_the_right_spelling(configs: Path) -> None:
    edit(configs / "gateway.toml", 'pos_wait_budget = "10s"', 'pos_wait_budgett = "10s"')
    edit(configs / "partners" / "th-siampay.toml", "display_name =", "dispaly_name =")
    edit(configs / "partners" / "jp-sakurapay.toml", "[fees]", '[timeouts]\npya = "1s"\n\n[fees]')
    assert problems(configs) == [
        "configs/gateway.toml: durations.pos_wait_budgett: 'pos_wait_budgett' is not a known "
        "key. Fix: did you mean 'pos_wait_budget'?",
        f"{JP}: timeouts.pya: 'pya' is not a known key. Fix: did you mean 'pay'?",
        f"{TH}: display_name: is required. Fix: add display_name.",
        f"{TH}: dispaly_name: 'dispaly_name' is not a known key. Fix: did you mean 'display_name'?",
    ]


def test_id_must_equal_the_file_name(configs: Path) -> None:
    edit(configs / "partners" / "th-siampay.toml", 'id = "th-siampay"', 'id = "th-siam"')
    assert problems(configs) == [
        f"{TH}: id: 'th-siam' does not match the file name th-siampay.toml. "
        'Fix: write id = "th-siampay", or rename the file to th-siam.toml.'
    ]


def test_many_problems_are_reported_together(configs: Path) -> None:
    edit(configs / "gateway.toml", 'inquiry_deadline = "60s"', 'inquiry_deadline = "1 minute"')
    edit(configs / "gateway.toml", "markup_bps = 150", "markup_bps = -1")
    edit(configs / "wallets.toml", 'currency = "KRW"', 'currency = "XXX"')
    edit(configs / "partners" / "th-siampay.toml", 'markets = ["TH"]', 'markets = ["UK"]')
    edit(configs / "partners" / "th-siampay.toml", '"alipayplus"', '"hmacpay"')
    edit(configs / "partners" / "jp-sakurapay.toml", "priority = 20", "priority = -1")
    lines = problems(configs)
    assert [line.split(": ")[:2] for line in lines] == [
        ["configs/gateway.toml", "fx.markup_bps"],
        ["configs/gateway.toml", "durations.inquiry_deadline"],
        ["configs/wallets.toml", "wallets.kakaopay.currency"],
        [JP, "priority"],
        [TH, "protocol"],
        [TH, "markets[0]"],
    ]
    assert "Fix: use a code such as 'GB'." in lines[5]


def test_toml_syntax_error_names_file_and_line(configs: Path) -> None:
    edit(configs / "wallets.toml", 'currency = "PHP"', "currency = PHP")
    edit(configs / "partners" / "jp-sakurapay.toml", 'markets = ["JP"]', 'markets = ["JX"]')
    line_no = (configs / "wallets.toml").read_text().splitlines().index("currency = PHP") + 1
    lines = problems(configs)
    assert lines[0].startswith(f"configs/wallets.toml: line {line_no}: invalid TOML: ")
    assert lines[0].endswith(
        'Fix: correct the syntax there (strings need quotes, e.g. pay = "8s").'
    )
    # The other files are still checked; the partners' wallets are then unknown.
    assert any(line.startswith(f"{JP}: markets[0]:") for line in lines)


def test_missing_files_and_directory(configs: Path, tmp_path: Path) -> None:
    (configs / "gateway.toml").unlink()
    [line] = problems(configs)
    assert line.startswith("configs/gateway.toml: file not found. Fix: create it")

    with pytest.raises(ConfigError, match="configuration directory not found"):
        load_settings(tmp_path / "nowhere", env={})


def test_unknown_profile(configs: Path) -> None:
    assert problems(configs, "fast") == [
        "configs/profiles/fast.toml: profile 'fast' has no file. Fix: create it, or use one of: "
        "test."
    ]
    assert problems(configs, "../etc")[0].startswith("GATEWAY_PROFILE: '../etc' is not a profile")


def test_problems_in_an_overlay_name_the_overlay(configs: Path) -> None:
    edit(configs / "profiles" / "test.toml", 'pos_wait_budget = "1.5s"', 'pos_wait_budget = "fast"')
    edit(configs / "profiles" / "test.toml", "[sandbox]", '[sandbox]\nhodl = "1s"')
    assert [line.split(": ")[:2] for line in problems(configs, "test")] == [
        ["configs/profiles/test.toml", "durations.pos_wait_budget"],
        ["configs/profiles/test.toml", "sandbox.hodl"],
    ]


def test_schedule_the_sandbox_relies_on(configs: Path) -> None:
    """0091 must time out at pay; 0093 and 0094 must end inside the inquiry deadline."""
    edit(configs / "profiles" / "test.toml", 'hold = "800ms"', 'hold = "300ms"')
    edit(configs / "profiles" / "test.toml", 'expire = "700ms"', 'expire = "3s"')
    sandbox_partners = sorted(
        p.stem for p in (configs / "partners").glob("*.toml") if "enabled = true" in p.read_text()
    )
    too_short = [
        "configs/profiles/test.toml: sandbox.hold: must exceed the pay timeout "
        f"({what}), or test code 0091 never times out. "
        f"Fix: raise sandbox.hold above {what}."
        for what in [
            "partner_defaults.timeouts.pay",
            *(f"partner {p}'s timeouts.pay" for p in sandbox_partners),
        ]
    ]
    assert problems(configs, "test") == [
        *too_short,
        "configs/profiles/test.toml: sandbox.expire: must be shorter than "
        "durations.inquiry_deadline, or test code 0094 is cancelled before inquiry sees its end. "
        "Fix: lower sandbox.expire or raise durations.inquiry_deadline.",
    ]


def test_durations_must_be_consistent(configs: Path) -> None:
    edit(configs / "gateway.toml", 'inquiry_max_interval = "10s"', 'inquiry_max_interval = "1s"')
    assert problems(configs) == [
        "configs/gateway.toml: durations.inquiry_max_interval: inquiry_max_interval is shorter "
        "than inquiry_initial_interval. Fix: make inquiry_max_interval at least "
        "inquiry_initial_interval."
    ]


def test_a_code_is_not_payable_past_its_quote(configs: Path) -> None:
    edit(configs / "gateway.toml", 'order_code_lifetime = "5m"', 'order_code_lifetime = "6m"')
    assert problems(configs) == [
        "configs/gateway.toml: durations.order_code_lifetime: must not outlast "
        "durations.quote_lifetime: a code (or an entry order) is paid at the rate quoted when it "
        "was made. Fix: lower durations.order_code_lifetime or raise durations.quote_lifetime."
    ]


def test_sandbox_ports_must_differ(configs: Path) -> None:
    edit(configs / "partners" / "jp-sakurapay.toml", "port = 9102", "port = 9101")
    assert problems(configs) == [
        f"{TH}: sandbox.port: sandbox port 9101 is also used by partner jp-sakurapay's sandbox. "
        "Fix: give each sandbox its own port (sandbox.port, or the port in base_url)."
    ]


def test_bad_database_url_never_shows_the_password(configs: Path) -> None:
    [line] = problems(configs, env={"DATABASE_URL": "mysql://gw:hunter2@db/gateway"})
    assert line.startswith(
        "environment variable DATABASE_URL: database.url: unsupported database URL scheme 'mysql'"
    )
    assert "hunter2" not in line


def test_sections_that_belong_elsewhere(configs: Path) -> None:
    (configs / "gateway.toml").write_text(
        (configs / "gateway.toml").read_text() + '\n[wallets.paypay]\ncurrency = "JPY"\n'
    )
    assert problems(configs) == [
        "configs/gateway.toml: wallets: 'wallets' does not belong in this file. "
        "Fix: wallets belong in wallets.toml."
    ]


def test_static_fx_needs_rates_and_no_floats(configs: Path) -> None:
    pegs = '\n[[fx.sources]]\nname = "pegs"\nkind = "static"\nas_of = 2026-11-26T16:00:00Z\n'
    text = (configs / "gateway.toml").read_text()
    (configs / "gateway.toml").write_text(text + pegs + "rates = { THB = 36.5 }\n")
    assert problems(configs) == [
        "configs/gateway.toml: fx.sources[1].rates.THB: 36.5 is a TOML float, which is inexact. "
        'Fix: write the rate as a decimal string, e.g. "36.5".'
    ]
    (configs / "gateway.toml").write_text(text + pegs)
    assert problems(configs) == [
        "configs/gateway.toml: fx.sources[1].rates: a static source needs rates. "
        'Fix: add rates = { THB = "36.541" }.'
    ]


def test_fx_sources_are_checked(configs: Path) -> None:
    text = (configs / "gateway.toml").read_text()
    twice = text + '\n[[fx.sources]]\nname = "ecb"\nkind = "ecb_file"\nfile = "nope.xml"\n'
    (configs / "gateway.toml").write_text(twice)
    lines = problems(configs)
    assert [line.split(": ")[:2] for line in lines] == [
        ["configs/gateway.toml", "fx.sources[1].file"],
    ], lines
    edit(configs / "gateway.toml", 'file = "nope.xml"\n', "")  # the file shipped with fx
    assert [line.split(": ")[:3] for line in problems(configs)] == [
        ["configs/gateway.toml", "fx.sources", "rate source 'ecb' is listed twice. Fix"],
    ]
    (configs / "gateway.toml").write_text(
        text.replace('kind = "ecb_xml"', 'kind = "ecb_xml"\ncalendar = "fixed"')
    )
    assert [line.split(": ")[:2] for line in problems(configs)] == [
        ["configs/gateway.toml", "fx.sources[0].max_age"],
    ]


def test_partner_field_shapes(configs: Path) -> None:
    th = configs / "partners" / "th-siampay.toml"
    edit(th, 'base_url = "http://127.0.0.1:9101"', 'base_url = "ftp://127.0.0.1:9101"')
    edit(th, 'cutoff = "23:00"', 'cutoff = "24:00"')
    edit(
        th,
        "[sandbox]\nenabled = true",
        "[exponent_overrides]\nKRW = 7\nkrw = 1\n\n[limits.THB]\nmin = 500\nmax = 100\n\n"
        "[sandbox]\nenabled = true\nport = 0",
    )
    assert problems(configs) == [
        f"{TH}: cutoff: '24:00' is not a local wall time HH:MM. "
        'Fix: write e.g. "00:00" or "18:30".',
        f"{TH}: base_url: 'ftp://127.0.0.1:9101' is not an http(s) URL. "
        "Fix: write e.g. 'https://api.example.com'.",
        f"{TH}: limits.THB.max: max (100) is below min (500). Fix: swap them.",
        f"{TH}: exponent_overrides.KRW: Input should be less than or equal to 4 (got 7). "
        "Fix: use a value of at most 4.",
        f"{TH}: exponent_overrides.krw: 'krw' is not an ISO 4217 code (codes are upper case). "
        "Fix: write 'KRW'.",
        f"{TH}: sandbox.port: Input should be greater than or equal to 1 (got 0). "
        "Fix: use a value of at least 1.",
    ]
