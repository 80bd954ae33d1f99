"""Credentials encrypted at rest: Fernet, with keys from FIELD_ENCRYPTION_KEY (newest first).

MultiFernet encrypts with the first key and decrypts with any, so a new key is added in front,
`manage.py rotate_encryption_keys` re-encrypts everything with it, and then old keys can go.
"""

import functools

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


class EncryptionKeyError(ImproperlyConfigured):
    """No key, or no key that opens what is stored: never guess, never return ciphertext."""


def validate_keys(keys: list[str]) -> None:
    """Refuse malformed keys at start-up (called from AccountsConfig.ready)."""
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise ImproperlyConfigured(
                f"FIELD_ENCRYPTION_KEY: key {position} is not a Fernet key (32 url-safe base64 "
                'bytes). Make one with: python -c "from cryptography.fernet import Fernet; '
                'print(Fernet.generate_key().decode())"'
            ) from None


def _fernet() -> MultiFernet:
    keys = tuple(settings.FIELD_ENCRYPTION_KEY)
    if not keys:
        raise EncryptionKeyError(
            "FIELD_ENCRYPTION_KEY is not set: account credentials can be neither stored nor read."
        )
    return _multi_fernet(keys)


@functools.lru_cache(maxsize=4)
def _multi_fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str, where: str = "a stored credential") -> str:
    try:
        return _fernet().decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        raise EncryptionKeyError(
            f"Cannot decrypt {where}: none of the FIELD_ENCRYPTION_KEY keys opens it "
            "(a wrong or removed key)."
        ) from None


def rotate(ciphertext: str) -> str:
    """The same secret, encrypted with the newest key (never decrypted to a str here)."""
    return _fernet().rotate(ciphertext.encode()).decode()


class EncryptedTextField(models.TextField):
    """A text column holding only Fernet ciphertext; Python sees the plaintext.

    An empty value is stored empty: there is no secret to hide. Encrypted values cannot be
    searched or compared in SQL.
    """

    def from_db_value(self, value, expression, connection):
        if not value:
            return value
        return decrypt(value, f"{self.model._meta.label}.{self.name}")

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if not value:
            return value
        return encrypt(value)
