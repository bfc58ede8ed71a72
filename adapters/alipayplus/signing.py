"""Alipay+ / Antom message signatures: pure functions over bytes and keys, no I/O.

Both directions sign the same content (alipayplus-v1.md, "Signing"):

    <METHOD> <path>\\n<client-id>.<time>.<raw body>

with RSA PKCS#1 v1.5 over SHA-256. The `Signature` header carries
`algorithm=RSA256,keyVersion=<n>,signature=<value>`, where `<value>` is the Base64 signature
URL-encoded form style (`+` -> `%2B`, `/` -> `%2F`, `=` -> `%3D`), exactly as Ant's SDKs do
(`quote_plus`); verification URL-decodes first (`unquote_plus`). The content is built from
bytes, so the raw body is signed exactly as it travels.

Keys arrive in every shape operators paste them: PKCS#8 or PKCS#1 PEM, SubjectPublicKeyInfo PEM,
the SDK's bare Base64 bodies without armour, and PEM flattened into an environment variable
with literal `\\n` escapes. All of them reduce to DER before loading.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
import types
from collections.abc import Mapping
from urllib.parse import quote_plus, unquote_plus

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

__all__ = [
    "ALGORITHM",
    "AlipayPlusCredentials",
    "KeyFormatError",
    "SignatureHeader",
    "build_content",
    "generate_keypair",
    "load_private_key",
    "load_public_key",
    "sign",
    "verify",
]

ALGORITHM = "RSA256"
MIN_KEY_BITS = 2048

_PEM = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.DOTALL)
_PRIVATE_LABELS = frozenset({"PRIVATE KEY", "RSA PRIVATE KEY"})
_PUBLIC_LABELS = frozenset({"PUBLIC KEY", "RSA PUBLIC KEY"})


class KeyFormatError(ValueError):
    """A key that cannot be loaded. The message never contains key material."""


def build_content(method: str, path: str, client_id: str, time: str, body: bytes) -> bytes:
    """The bytes that are signed: `<METHOD> <path>\\n<client-id>.<time>.<raw body>`."""
    head = f"{method} {path}\n{client_id}.{time}."
    return head.encode("utf-8") + body


def sign(private_key: rsa.RSAPrivateKey, content: bytes) -> str:
    """The header's `signature=` value: URL-encoded Base64 of RSA-SHA256 (PKCS#1 v1.5)."""
    raw = private_key.sign(content, padding.PKCS1v15(), hashes.SHA256())
    return quote_plus(base64.b64encode(raw).decode("ascii"))


def verify(public_key: rsa.RSAPublicKey, content: bytes, value: str) -> bool:
    """Check a `signature=` value (URL-encoded Base64) against `content`; never raises."""
    try:
        raw = base64.b64decode(unquote_plus(value), validate=True)
        public_key.verify(raw, content, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


@dataclasses.dataclass(frozen=True, slots=True)
class SignatureHeader:
    """The `Signature` header: `algorithm=RSA256,keyVersion=1,signature=<url-encoded value>`."""

    signature: str = dataclasses.field(repr=False)
    key_version: int = 1
    algorithm: str = ALGORITHM

    def render(self) -> str:
        return (
            f"algorithm={self.algorithm},keyVersion={self.key_version},signature={self.signature}"
        )

    @classmethod
    def parse(cls, header: str) -> SignatureHeader:
        """Parse a header; `ValueError` when a part is missing or malformed.

        Pairs are split at the first `=` only, so an unencoded Base64 value (with `=` padding)
        still parses, and then simply fails verification like in the SDK.
        """
        fields: dict[str, str] = {}
        for part in header.split(","):
            name, sep, value = part.strip().partition("=")
            if not sep:
                raise ValueError("malformed Signature header")
            fields[name.strip().lower()] = value.strip()
        signature = fields.get("signature")
        if not signature:
            raise ValueError("Signature header has no signature")
        version = fields.get("keyversion", "1")
        if not version.isdigit():
            raise ValueError("Signature header has a non-numeric keyVersion")
        return cls(
            signature=signature,
            key_version=int(version),
            algorithm=fields.get("algorithm", ALGORITHM),
        )


def _der_from_text(text: str, labels: frozenset[str], kind: str) -> bytes:
    """PEM (any line breaks, or literal `\\n` escapes) or bare Base64 -> DER bytes."""
    if not isinstance(text, str) or not text.strip():
        raise KeyFormatError(f"{kind} is empty")
    text = text.replace("\\r", "").replace("\\n", "\n").strip()
    match = _PEM.search(text)
    if match is not None:
        label = match.group(1)
        if label not in labels:
            raise KeyFormatError(f"{kind}: unexpected PEM block {label!r}")
        body = match.group(2)
    else:
        body = text
    try:
        return base64.b64decode("".join(body.split()), validate=True)
    except (binascii.Error, ValueError):
        raise KeyFormatError(f"{kind} is neither PEM nor Base64") from None


def load_private_key(text: str) -> rsa.RSAPrivateKey:
    """Load our RSA private key (PKCS#8 or PKCS#1; PEM, escaped PEM or bare Base64)."""
    der = _der_from_text(text, _PRIVATE_LABELS, "private key")
    try:
        key = serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise KeyFormatError("private key: not an unencrypted PKCS#8/PKCS#1 key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyFormatError("private key: not an RSA key")
    if key.key_size < MIN_KEY_BITS:
        raise KeyFormatError(f"private key: {key.key_size} bits, need {MIN_KEY_BITS}")
    return key


def load_public_key(text: str) -> rsa.RSAPublicKey:
    """Load a partner's RSA public key (SubjectPublicKeyInfo or PKCS#1; PEM or bare Base64)."""
    der = _der_from_text(text, _PUBLIC_LABELS, "public key")
    try:
        key = serialization.load_der_public_key(der)
    except (ValueError, UnsupportedAlgorithm):
        raise KeyFormatError("public key: not a SubjectPublicKeyInfo/PKCS#1 key") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise KeyFormatError("public key: not an RSA key")
    if key.key_size < MIN_KEY_BITS:
        raise KeyFormatError(f"public key: {key.key_size} bits, need {MIN_KEY_BITS}")
    return key


def generate_keypair() -> tuple[str, str]:
    """A fresh 2048-bit pair for sandboxes and tests: (PKCS#8 private PEM, SPKI public PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=MIN_KEY_BITS)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )
    return private_pem, public_pem


@dataclasses.dataclass(frozen=True, slots=True, repr=False)
class AlipayPlusCredentials:
    """Our client id and signing key, and the partner's public keys by `keyVersion`.

    Parsed once (the hyperswitch auth-type idea); the repr never shows the private key.

    **Parameters**
    - `client_id`: the `client-id` the partner assigned to us.
    - `private_key`: our RSA key; requests are signed with it.
    - `partner_public_keys`: `keyVersion` -> the partner's RSA public key; a response is trusted
      only when signed with one of these.
    - `key_version`: the `keyVersion` we announce for our own key (rotation).
    """

    client_id: str
    private_key: rsa.RSAPrivateKey
    partner_public_keys: Mapping[int, rsa.RSAPublicKey]
    key_version: int = 1

    def __post_init__(self) -> None:
        if not self.client_id:
            raise ValueError("client_id is empty")
        if not self.partner_public_keys:
            raise ValueError("no partner public key")
        frozen = types.MappingProxyType(dict(self.partner_public_keys))
        object.__setattr__(self, "partner_public_keys", frozen)

    @classmethod
    def from_text(
        cls,
        *,
        client_id: str,
        private_key: str,
        partner_public_key: str | Mapping[int, str],
        key_version: int = 1,
        partner_key_version: int = 1,
    ) -> AlipayPlusCredentials:
        """Build from key text (see `load_private_key` / `load_public_key` for the shapes)."""
        if isinstance(partner_public_key, str):
            texts: Mapping[int, str] = {partner_key_version: partner_public_key}
        else:
            texts = partner_public_key
        return cls(
            client_id=client_id,
            private_key=load_private_key(private_key),
            partner_public_keys={v: load_public_key(t) for v, t in texts.items()},
            key_version=key_version,
        )

    def __repr__(self) -> str:
        versions = sorted(self.partner_public_keys)
        return (
            f"AlipayPlusCredentials(client_id={self.client_id!r}, private_key=<redacted>, "
            f"key_version={self.key_version}, partner_key_versions={versions})"
        )
