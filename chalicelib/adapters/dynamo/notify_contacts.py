"""Phone numbers the hub may text, sealed at rest.

The residents' phone is otherwise kept only as a keyed hash and a mask (identity.bind_phone); texting
needs the number itself, so it is stored once more, sealed with AES-256-GCM under a key derived (HKDF-
SHA256) from the phone pepper secret, with the owner (``resident:{id}`` / ``staff:{id}``) as associated
data — a sealed number copied onto another owner's item does not open. Rotating the pepper makes the
sealed numbers unreadable: residents bind their phone again (the hashes change with it anyway).
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from chalicelib.adapters.dynamo.notify_models import ContactItem, contact_key
from chalicelib.ports import SecretStore

HKDF_INFO = b"linli/phone-seal/v1"
NONCE_BYTES = 12


def seal_key(pepper: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO).derive(pepper)


def seal(key: bytes, owner: str, phone: str) -> str:
    nonce = os.urandom(NONCE_BYTES)
    sealed = nonce + AESGCM(key).encrypt(nonce, phone.encode(), owner.encode())
    return base64.urlsafe_b64encode(sealed).decode()


def unseal(key: bytes, owner: str, sealed: str) -> str | None:
    """The phone, or None when the seal does not open (another key, another owner, tampered)."""
    raw = base64.urlsafe_b64decode(sealed)
    try:
        return AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], owner.encode()).decode()
    except (InvalidTag, ValueError):
        return None


class DynamoContacts:
    def __init__(self, secrets: SecretStore) -> None:
        self._secrets = secrets

    def _key(self) -> bytes:
        return seal_key(self._secrets.app_secrets().phone_pepper)

    def set_phone(self, owner: str, phone: str) -> None:
        pk, sk = contact_key(owner)
        ContactItem(pk, sk, sealed=seal(self._key(), owner, phone)).save()

    def phone(self, owner: str) -> str | None:
        pk, sk = contact_key(owner)
        try:
            item = ContactItem.get(pk, sk)
        except ContactItem.DoesNotExist:
            return None
        return unseal(self._key(), owner, item.sealed)
