"""Envelope encryption for held messages (AES-256-GCM, from ``cryptography``).

Each message is sealed with its own random data key; the data key is sealed ("wrapped")
by the inbox key. Rotating the inbox key therefore re-wraps 32-byte data keys and never
touches a message body. The message id is bound into both seals as associated data, so a
wrapped key or body copied onto another row does not open.

Layout of a seal: 12-byte nonce, then the AES-GCM ciphertext with its 16-byte tag.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from relay.errors import InboxKeyError

KEY_BYTES = 32
NONCE_BYTES = 12


def _seal(aead: AESGCM, plaintext: bytes, aad: bytes) -> bytes:
    nonce = secrets.token_bytes(NONCE_BYTES)
    return nonce + aead.encrypt(nonce, plaintext, aad)


def _open(aead: AESGCM, sealed: bytes, aad: bytes) -> bytes:
    return aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)


class InboxKey:
    """The key that wraps every data key. Its repr never shows key material."""

    __slots__ = ("_aead", "_raw", "key_id")

    def __init__(self, raw: bytes) -> None:
        if len(raw) != KEY_BYTES:
            raise InboxKeyError(f"the inbox key must be {KEY_BYTES} bytes (base64: 44 characters)")
        self._raw = raw
        self._aead = AESGCM(raw)
        # A short public fingerprint, to say which key stored what (never the key).
        self.key_id = hashlib.sha256(b"contact-relay inbox key\0" + raw).hexdigest()[:12]

    def __repr__(self) -> str:
        return f"InboxKey(key_id={self.key_id!r})"

    @classmethod
    def generate(cls) -> InboxKey:
        return cls(os.urandom(KEY_BYTES))

    @classmethod
    def from_text(cls, text: str) -> InboxKey:
        """Decode the base64 form used in key files and ``RELAY_INBOX__KEY``."""
        try:
            raw = base64.b64decode(text.strip().encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            raise InboxKeyError("the inbox key is not valid base64") from None
        return cls(raw)

    def to_text(self) -> str:
        return base64.b64encode(self._raw).decode("ascii")

    def seal(self, plaintext: bytes, *, aad: bytes) -> tuple[bytes, bytes]:
        """Seal under a fresh data key: returns (wrapped data key, ciphertext)."""
        data_key = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
        return _seal(self._aead, data_key, aad), _seal(AESGCM(data_key), plaintext, aad)

    def open(self, wrapped: bytes, ciphertext: bytes, *, aad: bytes) -> bytes:
        """Open a seal; raises InboxKeyError if this key (or the row) does not match."""
        try:
            data_key = _open(self._aead, wrapped, aad)
            return _open(AESGCM(data_key), ciphertext, aad)
        except (InvalidTag, ValueError):
            raise InboxKeyError("a held message does not open with this inbox key") from None

    def rewrap(self, wrapped: bytes, new: InboxKey, *, aad: bytes) -> bytes:
        """The same data key, wrapped by ``new`` instead of this key."""
        try:
            data_key = _open(self._aead, wrapped, aad)
        except (InvalidTag, ValueError):
            raise InboxKeyError("a data key does not open with the current inbox key") from None
        return _seal(new._aead, data_key, aad)

    def check_value(self) -> bytes:
        """A sealed constant stored beside the data: at start it proves the key is right."""
        return _seal(self._aead, b"contact-relay inbox", b"key-check")

    def matches(self, check_value: bytes) -> bool:
        try:
            return _open(self._aead, check_value, b"key-check") == b"contact-relay inbox"
        except (InvalidTag, ValueError):
            return False
