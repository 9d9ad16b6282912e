"""The platform's event crypto: AES-256-CBC bodies and the request signature (see docs/store-apps.md).

``{"encrypt": "<base64>"}``: the base64 decodes to a 16-byte IV then AES-256-CBC ciphertext with PKCS#7
padding, keyed by the SHA-256 of the Encrypt Key string. The signature header is the hex SHA-256 (not an
HMAC) of timestamp + nonce + Encrypt Key + the raw body bytes. ``cryptography`` (an Airflow dependency)
is imported only when a body is decrypted or encrypted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os

__all__ = ["CryptoError", "decrypt", "encrypt", "sign", "signature_matches"]

_BLOCK = 16


class CryptoError(ValueError):
    """An ``encrypt`` value that does not decrypt with the key (wrong key, bad base64 or padding)."""


def _aes_key(encrypt_key: str) -> bytes:
    return hashlib.sha256(encrypt_key.encode()).digest()


def decrypt(encrypted: str, encrypt_key: str) -> str:
    """Return the text inside an event's ``encrypt`` value, or raise :class:`CryptoError` (no detail).

    :param encrypted: the base64 ``encrypt`` value (IV then ciphertext).
    :param encrypt_key: the app's Encrypt Key as shown in the developer console.
    """
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    try:
        raw = base64.b64decode(encrypted, validate=True)
    except (binascii.Error, ValueError):
        raise CryptoError("the encrypt value is not base64") from None
    if len(raw) < 2 * _BLOCK or len(raw) % _BLOCK:
        raise CryptoError("the encrypt value is not whole AES blocks")
    decryptor = Cipher(algorithms.AES(_aes_key(encrypt_key)), modes.CBC(raw[:_BLOCK])).decryptor()
    padded = decryptor.update(raw[_BLOCK:]) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        plain = unpadder.update(padded) + unpadder.finalize()
        return plain.decode()
    except ValueError:  # bad padding or not UTF-8: the wrong key, most likely
        raise CryptoError("the encrypt value does not decrypt with this Encrypt Key") from None


def encrypt(plain: str, encrypt_key: str, *, iv: bytes | None = None) -> str:
    """Return the base64 ``encrypt`` value of ``plain`` (what the platform sends), with a random IV by default."""
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    iv = os.urandom(_BLOCK) if iv is None else iv
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plain.encode()) + padder.finalize()
    encryptor = Cipher(algorithms.AES(_aes_key(encrypt_key)), modes.CBC(iv)).encryptor()
    return base64.b64encode(iv + encryptor.update(padded) + encryptor.finalize()).decode()


def sign(timestamp: str, nonce: str, encrypt_key: str, body: bytes) -> str:
    """Return the ``X-Lark-Signature`` of a request: hex SHA-256 of timestamp, nonce, key and the raw body."""
    return hashlib.sha256(timestamp.encode() + nonce.encode() + encrypt_key.encode() + body).hexdigest()


def signature_matches(signature: str, timestamp: str, nonce: str, encrypt_key: str, body: bytes) -> bool:
    """Whether ``signature`` is the request's, compared in constant time."""
    return hmac.compare_digest(signature.encode(), sign(timestamp, nonce, encrypt_key, body).encode())
