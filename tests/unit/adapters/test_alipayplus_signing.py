"""Signatures and keys of the Alipay+ / Antom protocol, checked against an OpenSSL-made vector."""

from __future__ import annotations

import base64
import functools
from urllib.parse import unquote_plus

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from adapters.alipayplus import signing
from adapters.alipayplus.signing import (
    AlipayPlusCredentials,
    KeyFormatError,
    SignatureHeader,
    build_content,
    generate_keypair,
    load_private_key,
    load_public_key,
    sign,
    verify,
)

# A test-only key pair and a signature made independently with the OpenSSL CLI:
#   openssl dgst -sha256 -sign key.pem content.txt | base64 -w0
# and URL-encoded by hand (+ -> %2B, / -> %2F, = -> %3D).
VECTOR_METHOD = "POST"
VECTOR_PATH = "/ams/api/v1/payments/pay"
VECTOR_CLIENT_ID = "SANDBOX_5Y3A2N2YEB"
VECTOR_TIME = "2026-11-26T10:00:00+08:00"
VECTOR_BODY = b'{"paymentRequestId":"pay_0001","paymentAmount":{"currency":"THB","value":"125050"}}'
VECTOR_CONTENT = (
    b"POST /ams/api/v1/payments/pay\n"
    b"SANDBOX_5Y3A2N2YEB.2026-11-26T10:00:00+08:00."
    b'{"paymentRequestId":"pay_0001","paymentAmount":{"currency":"THB","value":"125050"}}'
)

VECTOR_PRIVATE_KEY = """\
-----BEGIN RSA PRIVATE KEY-----
MIIEowIBAAKCAQEA7Szsw4SwbNrBaOCqOSCr1Dw7RtjCBbtOaKRD5z/htPMWykpx
LVRie1VyP4I/QsyQbseSBm5XpkriTZBt6pLPrglkkF1RFNK/PrppAZ8ALPh9xDO6
S74xJtjm/HdbcgDAGREE/XzVxLLyviDWLg/LTdFP7wenJ0aJ57/j+ZwbyLZkzTEZ
Ln8Z+a5NMpgIDfcNLYcZ416M4qJzFA1nTeki4LHSL1UMNENVsliZjy1HrNRYBaFK
gJDVci/eyZexUwMmJZG1jJDYGHs9qJJlQxQ59Y7Bh+DQy9WJ4+LeC/YB4A+87xBU
2rDr9eyTMg4+DPPhrFzSzj9YgNJ6Lh2mosH0JwIDAQABAoIBAAxdsEaNb4ltanIm
bJmn622YalrKSGt2FaN9FRFEkmcV2ZVYhkgfwza9AMTw7I12Dv3HqARv0mAYPW5f
3mtBllRzpuukAes9Bb2miH0OJjsyBZSqQcdbNkLZQkndi0YJZfqomYMB9D9aOS/S
lHg4WJhJForW8k8o7V3I8oD8M7KmPi4mDYRWtCxeH8e4nUwjR2tNjPUvf/qMiryX
3hm2l6cJgriTdX7IezxbwKdZ+CwathmSSFWaJJgpyG9OgD64APp2HT1U8ouDpbwP
zQ49/z+9b5Gj2pCVhwmOyG1EwZZWLMMv74bPjG/6sOjEqq2letiRCcQ3emNp0u2K
mVeW8KECgYEA+wYY6CWCrKTrwymWi8vDq1Tb3gUBhjWpy7so27Rh81++GL8yfcui
oeINA/E3mICTxPDkNvgkUKE7yfgF8AYfnmLu750GimUz7OBTcB8r84MHkYft2+S1
olaIS68D6Vi73Z150aKdpWS7WtiLGmrWS6K+rngCbYxSdF1tS15opHECgYEA8eCM
t2lQ5d8KAFg9uCNKamsjiPsF9RDf+9ipAdqn+RCirfgGh/KOa62bv1bjqhKjc/fd
rGCbGqHgLs8aETkXZbZEZaF1yOiILV34TLfLZPWV/5iadhsv0NhcmICrKGeUXuEo
BxitqouQTSSTcC10OygeYRPXSBaSk8KjtC6tDhcCgYBPkeE3RRyk6SoqlPY5nf+K
Qb3oJKIVDtGh2NPcwNMDuGejpIe2xGPq+KKzizTaTHeKx+kvW3z3agRvwwTuzqIb
LLUckyPNnsLU5U7NjbP63p/5i6LkPx0sNk3B39pXj18NoqtIvklGciXJaDa/yvne
w9m5qCTs4LwKUssgRu7YoQKBgQCPG1NGRRpnFwJ817iUlNS3h/I7XoHU0AoloLfF
8A/H7c7CbWe30YvwK4RlvcvvWR26RGG0VmgOZs4UA9ahcAzm0eM/2jqtBt9jMCDz
ix7c+eyokCp7THSK9Sg71ozt1/LR/BdJs5E0wWQ8MDLHgS0uvvrSZwHNlgVdRSDE
P4WGOwKBgC/lkTs3mvqxDlCJA3QaRUgUHNKHMjMSvkDmGjzFqVOayjKjUljGp8I1
t47OK2UjZlCNOxQxY2fiJOt+xdD/8n221GCRKG949Jtz73zlKkbmnnhIheJXjOZf
ZQskllRBTBBsyd/53nsC33DqnKaNJ3AqP7qjSc1a3HK0ITZDhNyM
-----END RSA PRIVATE KEY-----
"""

VECTOR_PUBLIC_KEY = """\
-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA7Szsw4SwbNrBaOCqOSCr
1Dw7RtjCBbtOaKRD5z/htPMWykpxLVRie1VyP4I/QsyQbseSBm5XpkriTZBt6pLP
rglkkF1RFNK/PrppAZ8ALPh9xDO6S74xJtjm/HdbcgDAGREE/XzVxLLyviDWLg/L
TdFP7wenJ0aJ57/j+ZwbyLZkzTEZLn8Z+a5NMpgIDfcNLYcZ416M4qJzFA1nTeki
4LHSL1UMNENVsliZjy1HrNRYBaFKgJDVci/eyZexUwMmJZG1jJDYGHs9qJJlQxQ5
9Y7Bh+DQy9WJ4+LeC/YB4A+87xBU2rDr9eyTMg4+DPPhrFzSzj9YgNJ6Lh2mosH0
JwIDAQAB
-----END PUBLIC KEY-----
"""

VECTOR_SIGNATURE_B64 = (
    "gDM3hnn90rH+3Gj2NechN/icHiNBiHrecckyFliARroK9joxdQ9lxWSXjLndQtSQBpRkV5UeaxwHprwBpSwbtY1F"
    "COlpLvWBwP1NtXDCwaz1h1tU9qyuVWEdotD6zRIj+JWSwR6q8LTuiuws3nxCVDy4HlkX12wYX2yGGM00hIJzsjJE"
    "6XZuG+mKarV3oEz30UO1ba7xXGVVelVwiLx3eRd1P9zxvTzSeESLQbod+Ndiuymuxxvdd8GaKz6I96Q9WCm8wpdG"
    "Rpz394s1NXV17MM1tz6NGNv9yCvXHt4EeGGaPb1LatJHkzgy+3qQlsIa5rikqsgus9zTBi665h60fw=="
)

VECTOR_SIGNATURE_VALUE = (
    "gDM3hnn90rH%2B3Gj2NechN%2FicHiNBiHrecckyFliARroK9joxdQ9lxWSXjLndQtSQBpRkV5UeaxwHprwBpSwb"
    "tY1FCOlpLvWBwP1NtXDCwaz1h1tU9qyuVWEdotD6zRIj%2BJWSwR6q8LTuiuws3nxCVDy4HlkX12wYX2yGGM00hI"
    "JzsjJE6XZuG%2BmKarV3oEz30UO1ba7xXGVVelVwiLx3eRd1P9zxvTzSeESLQbod%2BNdiuymuxxvdd8GaKz6I96"
    "Q9WCm8wpdGRpz394s1NXV17MM1tz6NGNv9yCvXHt4EeGGaPb1LatJHkzgy%2B3qQlsIa5rikqsgus9zTBi665h60"
    "fw%3D%3D"
)


def test_content_is_method_path_newline_client_time_body() -> None:
    content = build_content(VECTOR_METHOD, VECTOR_PATH, VECTOR_CLIENT_ID, VECTOR_TIME, VECTOR_BODY)
    assert content == VECTOR_CONTENT


def test_signature_matches_openssl_vector() -> None:
    key = load_private_key(VECTOR_PRIVATE_KEY)
    assert sign(key, VECTOR_CONTENT) == VECTOR_SIGNATURE_VALUE


def test_value_is_form_url_encoded_base64() -> None:
    # The vector's Base64 holds '+', '/' and '=' padding: none may survive unencoded.
    assert {"+", "/", "="} <= set(VECTOR_SIGNATURE_B64)
    assert not {"+", "/", "="} & set(VECTOR_SIGNATURE_VALUE)
    assert unquote_plus(VECTOR_SIGNATURE_VALUE) == VECTOR_SIGNATURE_B64
    assert len(base64.b64decode(VECTOR_SIGNATURE_B64)) == 256


def test_vector_verifies_with_public_key() -> None:
    public = load_public_key(VECTOR_PUBLIC_KEY)
    assert verify(public, VECTOR_CONTENT, VECTOR_SIGNATURE_VALUE)


@pytest.mark.parametrize(
    "content",
    [
        VECTOR_CONTENT.replace(b"125050", b"125051"),  # tampered body
        VECTOR_CONTENT.replace(b"+08:00", b"+09:00"),  # other time
        VECTOR_CONTENT.replace(b"/pay", b"/cancel"),  # other path
        VECTOR_CONTENT + b" ",
    ],
)
def test_tampered_content_fails(content: bytes) -> None:
    assert not verify(load_public_key(VECTOR_PUBLIC_KEY), content, VECTOR_SIGNATURE_VALUE)


@pytest.mark.parametrize("value", ["", "not base64!", "%%%", VECTOR_SIGNATURE_B64[:-4]])
def test_garbage_signature_fails_without_raising(value: str) -> None:
    assert not verify(load_public_key(VECTOR_PUBLIC_KEY), VECTOR_CONTENT, value)


def test_round_trip_with_generated_keys_and_wrong_key() -> None:
    private_pem, public_pem = generate_keypair()
    _, other_public_pem = generate_keypair()
    value = sign(load_private_key(private_pem), b"hello")
    assert verify(load_public_key(public_pem), b"hello", value)
    assert not verify(load_public_key(other_public_pem), b"hello", value)


def test_generate_keypair_shapes() -> None:
    private_pem, public_pem = generate_keypair()
    assert private_pem.startswith("-----BEGIN PRIVATE KEY-----\n")  # PKCS#8
    assert public_pem.startswith("-----BEGIN PUBLIC KEY-----\n")  # SubjectPublicKeyInfo
    assert load_private_key(private_pem).key_size == 2048


# --- Signature header --------------------------------------------------------------------------


def test_header_renders_like_the_sdk() -> None:
    header = SignatureHeader(signature=VECTOR_SIGNATURE_VALUE, key_version=1)
    assert header.render() == f"algorithm=RSA256,keyVersion=1,signature={VECTOR_SIGNATURE_VALUE}"
    assert SignatureHeader.parse(header.render()) == header


def test_header_parse_tolerates_case_spaces_and_raw_padding() -> None:
    parsed = SignatureHeader.parse("Algorithm=RSA256, KeyVersion=3, Signature=abc==")
    assert (parsed.algorithm, parsed.key_version, parsed.signature) == ("RSA256", 3, "abc==")


@pytest.mark.parametrize(
    "text", ["", "algorithm=RSA256,keyVersion=1", "signature", "keyVersion=x,signature=a"]
)
def test_header_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        SignatureHeader.parse(text)


def test_header_repr_hides_nothing_secret_but_is_short() -> None:
    assert "signature=" not in repr(SignatureHeader(signature="abc"))


# --- keys ----------------------------------------------------------------------------------------


@functools.cache
def _vector_key() -> rsa.RSAPrivateKey:
    return load_private_key(VECTOR_PRIVATE_KEY)


def _pem(key: rsa.RSAPrivateKey, fmt: serialization.PrivateFormat) -> str:
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()


def _body(pem: str) -> str:
    return "".join(line for line in pem.splitlines() if not line.startswith("-----"))


@functools.cache
def _private_shapes() -> dict[str, str]:
    key = _vector_key()
    pkcs8 = _pem(key, serialization.PrivateFormat.PKCS8)
    pkcs1 = _pem(key, serialization.PrivateFormat.TraditionalOpenSSL)
    return {
        "pkcs8 pem": pkcs8,
        "pkcs1 pem": pkcs1,
        "pkcs8 bare base64 (SDK style)": _body(pkcs8),
        "pkcs1 bare base64": _body(pkcs1),
        "pem with literal \\n escapes": pkcs8.replace("\n", "\\n"),
        "pem on one line": pkcs8.replace("\n", ""),
        "pem indented with CRLF": "\r\n".join("   " + line for line in pkcs1.splitlines()),
    }


@pytest.mark.parametrize("shape", list(_private_shapes()))
def test_private_key_shapes_all_sign_the_vector(shape: str) -> None:
    key = load_private_key(_private_shapes()[shape])
    assert sign(key, VECTOR_CONTENT) == VECTOR_SIGNATURE_VALUE


@functools.cache
def _public_shapes() -> dict[str, str]:
    public = _vector_key().public_key()
    pkcs1 = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.PKCS1
    ).decode()
    return {
        "spki pem": VECTOR_PUBLIC_KEY,
        "spki bare base64 (SDK style)": _body(VECTOR_PUBLIC_KEY),
        "spki with literal \\n escapes": VECTOR_PUBLIC_KEY.replace("\n", "\\n"),
        "pkcs1 pem": pkcs1,
    }


@pytest.mark.parametrize("shape", list(_public_shapes()))
def test_public_key_shapes_all_verify_the_vector(shape: str) -> None:
    key = load_public_key(_public_shapes()[shape])
    assert verify(key, VECTOR_CONTENT, VECTOR_SIGNATURE_VALUE)


@functools.cache
def _bad_private_keys() -> dict[str, str]:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    encrypted = _vector_key().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    )
    return {
        "empty": "  ",
        "garbage": "not a key at all",
        "base64 of junk": base64.b64encode(b"junk" * 20).decode(),
        "1024-bit": _pem(small, serialization.PrivateFormat.PKCS8),
        "ec": _pem(ec_key, serialization.PrivateFormat.PKCS8),  # type: ignore[arg-type]
        "encrypted": encrypted.decode(),
        "public key given as private": VECTOR_PUBLIC_KEY,
    }


@pytest.mark.parametrize("shape", list(_bad_private_keys()))
def test_bad_private_keys_raise_without_echoing_material(shape: str) -> None:
    text = _bad_private_keys()[shape]
    with pytest.raises(KeyFormatError) as info:
        load_private_key(text)
    message = str(info.value)
    assert "MII" not in message and "junk" not in message


def test_bad_public_key_raises() -> None:
    with pytest.raises(KeyFormatError):
        load_public_key(VECTOR_PRIVATE_KEY)
    with pytest.raises(KeyFormatError):
        load_public_key("zzz")


# --- credentials ---------------------------------------------------------------------------------


def test_credentials_repr_masks_private_key() -> None:
    credentials = AlipayPlusCredentials.from_text(
        client_id="SANDBOX_1",
        private_key=VECTOR_PRIVATE_KEY,
        partner_public_key=VECTOR_PUBLIC_KEY,
        partner_key_version=2,
    )
    text = repr(credentials)
    assert "SANDBOX_1" in text and "<redacted>" in text and "[2]" in text
    assert "PRIVATE" not in text and "MII" not in text and "RSAPrivateKey" not in text
    assert set(credentials.partner_public_keys) == {2}
    with pytest.raises(TypeError):
        credentials.partner_public_keys[3] = credentials.partner_public_keys[2]  # type: ignore[index]


def test_credentials_need_a_partner_key_and_client_id() -> None:
    key = _vector_key()
    with pytest.raises(ValueError):
        AlipayPlusCredentials(client_id="c", private_key=key, partner_public_keys={})
    with pytest.raises(ValueError):
        AlipayPlusCredentials(
            client_id="", private_key=key, partner_public_keys={1: key.public_key()}
        )


def test_module_surface() -> None:
    assert sorted(signing.__all__) == signing.__all__
