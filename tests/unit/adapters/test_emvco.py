"""EMVCo merchant-presented QR payloads, against published examples: the specification's own
sample (CRC A13A), PromptPay codes as the reference promptpay-qr library makes them, and QR Ph
codes issued by Philippine banks; then what a hostile scan can hold."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

import fx
from adapters import emvco

# EMV QRCPS Merchant-Presented Mode, the specification's example payload.
EMVCO_SAMPLE = (
    "00020101021229300012D156000000000510A93FO3230Q31280012D15600000001030812345678520441115802CN"
    "5914BEST TRANSPORT6007BEIJING64200002ZH0104最佳运输0202北京"
    "540523.7253031565502016233030412340603***0708A60086670902ME91320016A0112233449988770708"
    "123456786304A13A"
)
# PromptPay to mobile 081-234-5678: any amount, then 500.00 THB and 1234.50 THB.
PROMPTPAY_STATIC = "00020101021129370016A000000677010111011300668123456785802TH530376463045D82"
PROMPTPAY_500 = (
    "00020101021229370016A000000677010111011300668123456785802TH53037645406500.00630416BF"
)
PROMPTPAY_1234_50 = (
    "00020101021229370016A000000677010111011300668123456785802TH530376454071234.50630414B2"
)
# QR Ph person-to-merchant codes as issued (a static one and a dynamic one of PHP 100.00).
QRPH_STATIC = (
    "00020101021128620011ph.ppmi.p2m0111GXCHPHM2XXX032121702000005469871609905030005204581453036"
    "085802PH5917S and R MBTC 91826006Taguig6104163062650012ph.ppmi.qrph0308SRSU0020052121705000"
    "00669901340940708GEN0035163049EE7"
)
QRPH_100 = (
    "00020101021228530011ph.ppmi.p2m0111SRCPPHM2XXX0312MRCHNT-4H3TZ05030005204519953036085406100"
    ".005802PH5925SOCMED DIGITAL MARKETING 6010MakatiCity62650010ph.starpay0315SOCMED DIGITAL 05"
    "09OR#1Z1CSC0708TodayPay0803***88290012ph.ppmi.qrph0109OR#1Z1CSC63040275"
)


def test_crc_check_value() -> None:
    assert emvco.crc16(b"123456789") == 0x29B1
    assert emvco.crc16(b"") == 0xFFFF


@pytest.mark.parametrize(
    "payload", [EMVCO_SAMPLE, PROMPTPAY_STATIC, PROMPTPAY_500, PROMPTPAY_1234_50, QRPH_STATIC,
                QRPH_100],
)  # fmt: skip
def test_published_examples_parse_and_re_encode_byte_for_byte(payload: str) -> None:
    code = emvco.parse(payload)
    again = emvco.encode(
        (tag, list(code.templates[tag].items()) if tag in code.templates else value)
        for tag, value in code.objects.items()
    )
    assert again == payload


def test_the_specification_sample() -> None:
    code = emvco.parse(EMVCO_SAMPLE)
    assert not code.static and code.amount == fx.Money.parse("23.72", "CNY")
    assert (code.country, code.merchant_name, code.merchant_city) == (
        "CN",
        "BEST TRANSPORT",
        "BEIJING",
    )
    assert code.templates["64"] == {
        "00": "ZH",
        "01": "最佳运输",
        "02": "北京",
    }  # lengths in characters
    assert code.account("D15600000000") == {"00": "D15600000000", "05": "A93FO3230Q"}
    assert code.templates["62"]["07"] == "A6008667"


def test_promptpay_codes() -> None:
    static = emvco.parse(PROMPTPAY_STATIC)
    assert static.static and static.amount is None and static.currency.code == "THB"
    assert static.account(emvco.PROMPTPAY_AID) == {"00": emvco.PROMPTPAY_AID, "01": "0066812345678"}
    assert emvco.parse(PROMPTPAY_1234_50).amount == fx.Money(123450, fx.get_currency("THB"))


def test_qrph_codes() -> None:
    dynamic = emvco.parse(QRPH_100)
    assert dynamic.amount == fx.Money(10000, fx.get_currency("PHP"))
    account = dynamic.account(emvco.QRPH_AID)
    assert account is not None and account["01"] == "SRCPPHM2XXX"
    assert emvco.parse(QRPH_STATIC).static and emvco.parse(QRPH_STATIC).currency.code == "PHP"


def test_a_store_code_is_built_and_read_back() -> None:
    thb = fx.get_currency("THB")
    account = ("29", [("00", emvco.PROMPTPAY_AID), ("02", "0105561012345")])
    static = emvco.merchant_code(
        account=account, category="5812", currency=thb, country="TH", name="Siam Noodles",
        city="Bangkok", additional=[("03", "bkk-siam-01")],
    )  # fmt: skip
    code = emvco.parse(static)
    assert code.static and code.amount is None and code.merchant_name == "Siam Noodles"
    assert code.templates["62"] == {"03": "bkk-siam-01"}
    assert code.account(emvco.PROMPTPAY_AID) == dict(account[1])
    dynamic = emvco.merchant_code(
        account=account, category="5812", currency=thb, country="TH", name="Siam Noodles",
        city="Bangkok", amount=fx.Money(125050, thb),
    )  # fmt: skip
    assert "54071250.50" in dynamic and not emvco.parse(dynamic).static
    with pytest.raises(emvco.EmvcoError, match="in JPY, the code in THB"):
        emvco.merchant_code(
            account=account, category="5812", currency=thb, country="TH", name="x", city="y",
            amount=fx.Money(100, fx.get_currency("JPY")),
        )  # fmt: skip
    with pytest.raises(emvco.EmvcoError, match="outside printable ASCII"):
        emvco.merchant_code(account=account, category="5812", currency=thb, country="TH",
                            name="ร้านก๋วยเตี๋ยว", city="Bangkok")  # fmt: skip


def _with_crc(body: str) -> str:
    body += "6304"
    return body + f"{emvco.crc16(body.encode()):04X}"


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        ("", "1 to 512 characters"),
        ("0" * 513, "1 to 512 characters"),
        ("\ud800" + PROMPTPAY_STATIC, "not valid Unicode"),
        (PROMPTPAY_STATIC[:-1] + "3", "does not match"),
        (PROMPTPAY_STATIC[:-4] + "5d82", "uppercase hex"),
        (PROMPTPAY_STATIC[:-8], "must end with the CRC"),
        (PROMPTPAY_STATIC.replace("000201", "000202", 1), "must begin with 000201"),
        (_with_crc("000201010211" + "5802TH5303764"), "no merchant account"),
        (
            _with_crc("00020101021129370016A000000677010111011300668123456785802TH"),
            r"53 \(currency\) is missing",
        ),
        (_with_crc("000201010211290400005802TH5303764"), "says 0 characters"),
        (
            _with_crc("00020101021129370016A0000006770101110113006681234567"),
            "says 37 characters, has 36",
        ),
        (_with_crc("00020101021129080004AAAA5802TH53037645802TH"), "58 appears twice"),
        (_with_crc("00020101021129080004AAAA5802TH5303999"), "not an ISO 4217 numeric"),
        (_with_crc("00020101021329080004AAAA5802TH5303764"), "neither 11 nor 12"),
        (_with_crc("00020101021129080004AAAA5802th5303764"), "two uppercase letters"),
        (_with_crc("00020101021129080004AAAA5802TH53037645405-1.00"), "not a decimal"),
        (_with_crc("00020101021129080004AAAA5802TH53037645403١٠٠"), "outside printable ASCII"),
        (_with_crc("00020101021129080004AAAA5802TH530376454051.005"), "1.005"),
        (_with_crc("00020101021129080104AAAA5802TH5303764"), "no identifier"),
        (_with_crc("00020101021129080004AAAA5802TH53037645903a\x00b"), "printable ASCII"),
        (_with_crc("00020101021129080004AAAA5802TH53037649"), "no ID and length"),
        (_with_crc("00020101021129080004AAAA5802TH53037645203581"), "category code"),
    ],
)
def test_hostile_payloads_are_refused_saying_why(payload: str, says: str) -> None:
    with pytest.raises(emvco.EmvcoError, match=says):
        emvco.parse(payload)


@given(st.text(max_size=600))
def test_any_text_parses_or_is_refused_cleanly(text: str) -> None:
    with contextlib.suppress(emvco.EmvcoError):
        emvco.parse(text)


@given(
    value=st.integers(min_value=1, max_value=10**12),
    name=st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=25),
)
def test_built_codes_read_back(value: int, name: str) -> None:
    php = fx.get_currency("PHP")
    payload = emvco.merchant_code(
        account=("28", [("00", emvco.QRPH_AID), ("01", "GXCHPHM2XXX")]), category="5411",
        currency=php, country="PH", name=name, city="Makati", amount=fx.Money(value, php),
    )  # fmt: skip
    code = emvco.parse(payload)
    assert code.amount == fx.Money(value, php) and code.merchant_name == name
