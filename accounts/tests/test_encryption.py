"""Credentials are encrypted at rest, rotate to a new key, and fail loudly without the right key."""

import re
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
from cryptography.fernet import Fernet, MultiFernet
from django.core.management import CommandError, call_command
from django.db import connection

from accounts.encryption import EncryptionKeyError, validate_keys
from accounts.models import InstagramBusinessAccount

pytestmark = pytest.mark.django_db

TOKEN = "EAAGm0PX4ZCpsBAKZAp1-a-page-token-1234"
OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def raw_columns(account):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT access_token, app_secret, verify_token FROM accounts_instagrambusinessaccount "
            "WHERE id = %s",
            [account.pk],
        )
        return cursor.fetchone()


def make_account(**fields):
    account = InstagramBusinessAccount(instagram_id="17841400000000001", name="Shop", **fields)
    account.set_access_token(TOKEN)
    account.save()
    return account


def test_credentials_round_trip():
    make_account(app_secret="s3cret-app", verify_token="v3rify 🔐")
    account = InstagramBusinessAccount.objects.get()
    assert (account.access_token, account.app_secret, account.verify_token) == (
        TOKEN,
        "s3cret-app",
        "v3rify 🔐",
    )


def test_the_database_never_holds_a_credential_in_plaintext():
    account = make_account(app_secret="s3cret-app", verify_token="v3rify")
    for raw, secret in zip(raw_columns(account), [TOKEN, "s3cret-app", "v3rify"], strict=True):
        assert secret not in raw
        assert raw.startswith("gAAAAA")  # a Fernet token


def test_no_secret_is_stored_as_empty():
    account = InstagramBusinessAccount.objects.create(instagram_id="1", name="No secrets")
    assert raw_columns(account) == ("", "", "")


def test_rotation_re_encrypts_everything_with_the_newest_key(settings):
    settings.FIELD_ENCRYPTION_KEY = [OLD]
    account = make_account(app_secret="s3cret-app")
    settings.FIELD_ENCRYPTION_KEY = [NEW, OLD]  # a new key goes in front
    call_command("rotate_encryption_keys", verbosity=0)

    settings.FIELD_ENCRYPTION_KEY = [NEW]  # the old key can now go
    account = InstagramBusinessAccount.objects.get(pk=account.pk)
    assert (account.access_token, account.app_secret) == (TOKEN, "s3cret-app")
    assert Fernet(NEW).decrypt(raw_columns(account)[0].encode()).decode() == TOKEN


def test_rotation_is_safe_to_run_again(settings):
    settings.FIELD_ENCRYPTION_KEY = [NEW, OLD]
    make_account()
    call_command("rotate_encryption_keys", verbosity=0)
    call_command("rotate_encryption_keys", verbosity=0)
    assert InstagramBusinessAccount.objects.get().access_token == TOKEN


def test_a_wrong_key_fails_loudly_where_the_credential_is_read_and_never_returns_ciphertext(
    settings,
):
    settings.FIELD_ENCRYPTION_KEY = [OLD]
    make_account(app_secret="s3cret-app")
    settings.FIELD_ENCRYPTION_KEY = [NEW]
    account = InstagramBusinessAccount.objects.get()  # the row loads: its name, its id, ...
    assert account.name == "Shop"
    with pytest.raises(
        EncryptionKeyError, match=re.escape("accounts.InstagramBusinessAccount.access_token")
    ):
        account.access_token  # noqa: B018
    assert account.unreadable_credentials() == ["access_token", "app_secret"]
    assert (account.access_token_hint, account.has_access_token) == ("unreadable", True)


def test_a_credential_read_before_its_key_was_removed_is_not_served_from_memory(settings):
    settings.FIELD_ENCRYPTION_KEY = [OLD]
    make_account()
    assert InstagramBusinessAccount.objects.get().access_token == TOKEN  # opened, kept
    settings.FIELD_ENCRYPTION_KEY = [NEW]
    with pytest.raises(EncryptionKeyError):
        InstagramBusinessAccount.objects.get().access_token  # noqa: B018
    settings.FIELD_ENCRYPTION_KEY = [NEW, OLD]
    assert InstagramBusinessAccount.objects.get().access_token == TOKEN


def test_a_credential_is_opened_once_however_often_its_row_is_read(settings):
    settings.FIELD_ENCRYPTION_KEY = [NEW]
    make_account()
    with mock.patch.object(
        MultiFernet, "decrypt", autospec=True, side_effect=MultiFernet.decrypt
    ) as opened:
        for _ in range(3):
            assert InstagramBusinessAccount.objects.get().access_token == TOKEN
    assert opened.call_count == 1


def test_saving_an_account_whose_credentials_no_key_opens_keeps_them_as_stored(settings):
    settings.FIELD_ENCRYPTION_KEY = [OLD]
    stored = raw_columns(make_account(app_secret="s3cret-app"))
    settings.FIELD_ENCRYPTION_KEY = []
    account = InstagramBusinessAccount.objects.get()
    account.name = "Renamed"
    account.save()
    assert raw_columns(account) == stored
    settings.FIELD_ENCRYPTION_KEY = [OLD]
    account = InstagramBusinessAccount.objects.get()
    assert (account.name, account.access_token, account.app_secret) == (
        "Renamed",
        TOKEN,
        "s3cret-app",
    )


def test_rotation_refuses_credentials_no_key_opens_and_changes_nothing(settings):
    settings.FIELD_ENCRYPTION_KEY = [OLD]
    stored = raw_columns(make_account())
    settings.FIELD_ENCRYPTION_KEY = [NEW]
    with pytest.raises(CommandError, match="account 17841400000000001: access_token"):
        call_command("rotate_encryption_keys", verbosity=0)
    assert raw_columns(InstagramBusinessAccount.objects.get()) == stored


def test_a_missing_key_fails_loudly(settings):
    settings.FIELD_ENCRYPTION_KEY = []
    with pytest.raises(EncryptionKeyError, match="FIELD_ENCRYPTION_KEY is not set"):
        make_account()


@pytest.mark.parametrize("key", ["not-a-key", "c2hvcnQ=", ""])
def test_a_malformed_key_is_refused(key):
    with pytest.raises(Exception, match="not a Fernet key"):
        validate_keys([Fernet.generate_key().decode(), key])


def test_a_malformed_key_stops_the_service_at_start_up():
    base = Path(__file__).resolve().parents[2]
    env = {
        "PATH": "/usr/bin:/bin",
        "ENV_FILE": "/dev/null",
        "DEBUG": "on",
        "FIELD_ENCRYPTION_KEY": "definitely-not-a-fernet-key",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=base,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEY: key 1 is not a Fernet key" in result.stderr
