"""Keys and signatures of the WeChat Pay sandbox: fresh merchant and platform RSA key pairs per start
(none are kept in the repo), and WeChat's SHA256-with-RSA signing over ``line\nline\n...\n`` messages."""

from __future__ import annotations

import base64
import binascii
import secrets
import string
from typing import NamedTuple, TypedDict

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from localcloud.sandbox.wechat import DEFAULT_APPID


class SandboxCredentials(TypedDict):
    """``WeChatPaySandbox(**credentials.sandbox)``: what WeChat Pay knows about the merchant."""

    mchid: str
    appid: str
    merchant_public_key: str
    merchant_serial: str
    platform_private_key: str
    public_key_id: str
    apiv3_key: str


class HubSecret(TypedDict):
    """The hub's ``linli/wechatpay`` secret: what the merchant knows."""

    mchid: str
    appid: str
    merchant_private_key: str
    merchant_serial: str
    public_key: str
    public_key_id: str
    apiv3_key: str


class WeChatPayCredentials(NamedTuple):
    sandbox: SandboxCredentials
    secret: HubSecret


def generate_wechatpay_credentials(appid: str = DEFAULT_APPID, mchid: str | None = None) -> WeChatPayCredentials:
    """Fresh RSA-2048 merchant and platform key pairs, serial, public key id and APIv3 key (never stored)."""
    merchant, platform = (rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(2))
    mchid = mchid or "19" + "".join(secrets.choice(string.digits) for _ in range(8))
    merchant_serial = secrets.token_hex(20).upper()
    public_key_id = "PUB_KEY_ID_01" + mchid + "".join(secrets.choice(string.digits) for _ in range(16))
    apiv3_key = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(32))
    sandbox = SandboxCredentials(
        mchid=mchid, appid=appid, merchant_public_key=_public_pem(merchant), merchant_serial=merchant_serial,
        platform_private_key=_private_pem(platform), public_key_id=public_key_id, apiv3_key=apiv3_key,
    )
    secret = HubSecret(
        mchid=mchid, appid=appid, merchant_private_key=_private_pem(merchant), merchant_serial=merchant_serial,
        public_key=_public_pem(platform), public_key_id=public_key_id, apiv3_key=apiv3_key,
    )
    return WeChatPayCredentials(sandbox, secret)


# ---------------------------------------------------------------------------------------- crypto
def _private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _public_pem(key: rsa.RSAPrivateKey) -> str:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def rsa_sign(key: rsa.RSAPrivateKey, message: str) -> str:
    """Base64 SHA256withRSA (PKCS#1 v1.5) of ``message`` — WeChat Pay's signature."""
    return base64.b64encode(key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def rsa_verify(key: rsa.RSAPublicKey, message: str, signature: str) -> bool:
    try:
        raw = base64.b64decode(signature, validate=True)
        key.verify(raw, message.encode(), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def load_private_key(pem: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("expected an RSA private key")
    return key


def load_public_key(pem: str) -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("expected an RSA public key")
    return key
