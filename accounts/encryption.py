"""Credentials encrypted at rest: Fernet, with keys from FIELD_ENCRYPTION_KEY (newest first).

MultiFernet encrypts with the first key and decrypts with any, so a new key is added in front,
`manage.py rotate_encryption_keys` re-encrypts everything with it, and then old keys can go.

A stored credential that no key opens (a wrong, removed or missing key) does not stop its row
from loading: it is read as an UnreadableCredential, and reading the attribute raises
EncryptionKeyError, at the point where the credential is needed.
"""

import functools

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.db.models.query_utils import DeferredAttribute


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
    return _multi_fernet(_keys())


def _keys() -> tuple[str, ...]:
    keys = tuple(settings.FIELD_ENCRYPTION_KEY)
    if not keys:
        raise EncryptionKeyError(
            "FIELD_ENCRYPTION_KEY is not set: account credentials can be neither stored nor read."
        )
    return keys


@functools.lru_cache(maxsize=4)
def _multi_fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def can_encrypt() -> bool:
    """Whether new credentials can be stored: a key is set."""
    return bool(settings.FIELD_ENCRYPTION_KEY)


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str, where: str = "a stored credential") -> str:
    try:
        return _decrypted(_keys(), ciphertext)
    except InvalidToken:
        raise EncryptionKeyError(
            f"Cannot decrypt {where}: none of the FIELD_ENCRYPTION_KEY keys opens it "
            "(a wrong or removed key)."
        ) from None


# An account's row is read for every DM it answers: each stored credential is opened once per
# process and set of keys, not at every read (the Graph clients keep the tokens in memory
# anyway). Keyed on the keys too: a key removed or added is seen at the next read. A
# ciphertext no key opens is not kept (InvalidToken raised through the cache).
@functools.lru_cache(maxsize=1024)
def _decrypted(keys: tuple[str, ...], ciphertext: str) -> str:
    return _multi_fernet(keys).decrypt(ciphertext.encode()).decode()


def rotate(ciphertext: str) -> str:
    """The same secret, encrypted with the newest key (never decrypted to a str here)."""
    return _fernet().rotate(ciphertext.encode()).decode()


class UnreadableCredential:
    """A stored credential that no FIELD_ENCRYPTION_KEY key opens, as loaded from its row.

    Never mistaken for "no credential" (it is not a str, let alone an empty one), never usable
    as one, and written back exactly as stored when its row is saved.
    """

    __slots__ = ("ciphertext", "problem")

    def __init__(self, ciphertext: str, problem: str):
        self.ciphertext, self.problem = ciphertext, problem

    def __repr__(self):
        return "<unreadable credential>"


class CredentialAttribute(DeferredAttribute):
    """The model attribute of an EncryptedTextField: reading a credential that no key opens
    raises EncryptionKeyError. So a wrong key fails what needs the credential (a send, a
    signature check), not everything that loads the row (a list of accounts, a conversation)."""

    def __get__(self, instance, cls=None):
        value = super().__get__(instance, cls)
        if isinstance(value, UnreadableCredential):
            raise EncryptionKeyError(value.problem)
        return value

    def __set__(self, instance, value):
        # Defining __set__ makes every read go through __get__, not straight to __dict__.
        instance.__dict__[self.field.attname] = value


class EncryptedTextField(models.TextField):
    """A text column holding only Fernet ciphertext; Python sees the plaintext.

    An empty value is stored empty: there is no secret to hide. Encrypted values cannot be
    searched or compared in SQL.
    """

    descriptor_class = CredentialAttribute

    def from_db_value(self, value, expression, connection):
        if not value:
            return value
        try:
            return decrypt(value, f"{self.model._meta.label}.{self.name}")
        except EncryptionKeyError as exc:
            return UnreadableCredential(value, str(exc))

    def pre_save(self, model_instance, add):
        # Past the attribute (which would raise): an unreadable credential is saved as it was.
        if self.attname not in model_instance.__dict__:
            model_instance.refresh_from_db(fields=[self.attname])
        return model_instance.__dict__[self.attname]

    def get_prep_value(self, value):
        if isinstance(value, UnreadableCredential):
            return value.ciphertext
        value = super().get_prep_value(value)
        if not value:
            return value
        return encrypt(value)
