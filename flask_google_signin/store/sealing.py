"""Authenticated encryption of records, and the random values and key names around it.

The store holds ciphertext only. Each session record is sealed (AES-256-GCM) under a key derived
from a secret that only the browser holds, in its cookie, so a copy of the store (a backup, a
shared Redis, a misconfigured ACL) opens nothing: no token, email, name or claim is readable in it.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = b"\x01"
NONCE_SIZE = 12


def namespace(client_id: str) -> str:
    """One deployment's key space: two deployments sharing a store never see each other's records."""
    return hashlib.sha256(f"flask-google-signin|{client_id}".encode()).hexdigest()[:16]


class Sealer:
    """Authenticated encryption of one record with its own key.

    key = HKDF-SHA256(ikm = the browser's secret, salt = SECRET_KEY, info = deployment namespace).
    The record's store key is the associated data, so a record moved to another key does not open.
    Records are sealed under the current SECRET_KEY only; `older_keys` gives the keys a record sealed
    before a rotation opens with (one per SECRET_KEY_FALLBACKS key).
    """

    def __init__(self, secret_key: str, space: str, fallbacks: Sequence[str] = ()) -> None:
        self.salt = hashlib.sha256(secret_key.encode()).digest()
        self.older_salts = [hashlib.sha256(key.encode()).digest() for key in fallbacks]
        self.info = f"flask-google-signin record v1|{space}".encode()
        self.encode = msgspec.json.Encoder().encode  # JSON: integers of any size round-trip
        self.decode = msgspec.json.Decoder(dict).decode

    def key(self, secret: str, salt: bytes | None = None) -> AESGCM:
        material = HKDF(hashes.SHA256(), 32, salt or self.salt, self.info).derive(secret.encode())
        return AESGCM(material)

    def older_keys(self, secret: str) -> Iterator[AESGCM]:
        """`secret`'s key under each SECRET_KEY_FALLBACKS key, in their order: derived one at a time,
        as each is tried, since a record opens with one key at most."""
        return (self.key(secret, salt) for salt in self.older_salts)

    def seal(self, key: AESGCM, data: Mapping[str, Any], aad: str) -> bytes:
        nonce = os.urandom(NONCE_SIZE)
        return VERSION + nonce + key.encrypt(nonce, self.encode(data), aad.encode())

    def open(self, key: AESGCM, blob: bytes, aad: str) -> dict[str, Any] | None:
        """The record, or None when it was altered, sealed for another key, or is not ours."""
        if not blob.startswith(VERSION) or len(blob) < 1 + NONCE_SIZE + 16:
            return None
        nonce, body = blob[1 : 1 + NONCE_SIZE], blob[1 + NONCE_SIZE :]
        try:
            return self.decode(key.decrypt(nonce, body, aad.encode()))
        except (InvalidTag, msgspec.DecodeError):
            return None


def new_secret() -> str:
    """256 random bits, URL-safe: a session id or the secret that opens its record."""
    return secrets.token_urlsafe(32)


def digest(value: str) -> str:
    """A store key for a capability (a pending sign-in's secret): it addresses, never opens."""
    return base64.urlsafe_b64encode(hashlib.sha256(value.encode()).digest()).rstrip(b"=").decode()


