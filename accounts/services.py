"""Which account a delivery's entry belongs to, and keeping account tokens alive."""

import hmac
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from accounts.encryption import EncryptionKeyError
from accounts.models import CREDENTIAL_FIELDS, TOKEN_STATE_FIELDS, InstagramBusinessAccount
from meta import graph

logger = logging.getLogger(__name__)

# Meta refreshes a long-lived Instagram Login token only once it is a day old; we refresh
# those that have under REFRESH_BEFORE left, so a missed day or two costs nothing.
TOKEN_MIN_AGE = timedelta(days=1)
REFRESH_BEFORE = timedelta(days=30)

# How long a process trusts the account it read for an Instagram id before reading it again.
# Every DM names its account: reading it once a second rather than once a DM takes a query off
# each DM. A change made in this process is seen at once (signals); in another, within this.
ACCOUNTS_FRESH_FOR = 1.0


@dataclass(frozen=True)
class Route:
    """Where an entry's events go: a stored account, or (None) the environment's account."""

    account: InstagramBusinessAccount | None
    skip_reason: str = ""  # set: the events are not handled (the raw delivery is kept)


def app_secret_for(account: InstagramBusinessAccount | None) -> str:
    """The secret that signs this account's deliveries: its own (another Meta app), else the
    Instagram app's for an Instagram Login account (when set), else the Meta app's."""
    if account is not None and account.app_secret:
        return account.app_secret
    if account is not None and account.api == account.Api.INSTAGRAM_LOGIN:
        return settings.INSTAGRAM_APP_SECRET or settings.FACEBOOK_APP_SECRET
    return settings.FACEBOOK_APP_SECRET


def service_app_secrets() -> list[str]:
    """The service's own secrets, either of which may sign a delivery to /webhooks/instagram
    (an app has one callback URL for both logins)."""
    return [s for s in (settings.FACEBOOK_APP_SECRET, settings.INSTAGRAM_APP_SECRET) if s]


def verify_token_for(account: InstagramBusinessAccount | None) -> str:
    return (account.verify_token if account else "") or settings.INSTAGRAM_VERIFY_TOKEN


def route(instagram_id: str, verified_with: str) -> Route:
    """Route an entry for `instagram_id` of a delivery whose signature `verified_with` checked.

    An entry is handled only for an account whose own app secret signed the delivery: a
    delivery for one Meta app never acts on an account of another.
    """
    account = stored_account(instagram_id)
    if account is None and not settings.INSTAGRAM_PAGE_ACCESS_TOKEN:
        return Route(None, f"no account {instagram_id} is stored, and no environment credentials")
    if not hmac.compare_digest(app_secret_for(account).encode(), verified_with.encode()):
        return Route(
            account, f"the delivery was not signed with account {instagram_id}'s app secret"
        )
    if account is not None and not account.is_active:
        return Route(account, f"the account {account} is inactive")
    return Route(account)


_accounts_lock = threading.Lock()
_accounts: dict[str, tuple[float, InstagramBusinessAccount | None]] = {}


def stored_account(instagram_id: str) -> InstagramBusinessAccount | None:
    """The stored account for `instagram_id` (None: none is stored), read at most once every
    ACCOUNTS_FRESH_FOR seconds in this process."""
    now = time.monotonic()
    with _accounts_lock:
        known = _accounts.get(instagram_id)
    if known is not None and now - known[0] < ACCOUNTS_FRESH_FOR:
        return known[1]
    account = InstagramBusinessAccount.objects.filter(instagram_id=instagram_id).first()
    if account is None or not account.unreadable_credentials():
        # One whose credentials cannot be opened is read again next time: the key may be
        # fixed by then.
        with _accounts_lock:
            _accounts[instagram_id] = (now, account)
    return account


def forget_stored_accounts(**kwargs) -> None:
    """Accounts changed in this process: read them again (a signal receiver)."""
    with _accounts_lock:
        _accounts.clear()


def unreadable_credentials() -> list[str]:
    """The stored credentials no FIELD_ENCRYPTION_KEY key opens, one line per account that
    has any: its id and the credentials' names, never a secret."""
    accounts = InstagramBusinessAccount.objects.only("pk", "instagram_id", *CREDENTIAL_FIELDS)
    return [
        f"account {account.instagram_id}: {', '.join(names)}"
        for account in accounts.order_by("pk")
        if (names := account.unreadable_credentials())
    ]


def check_token(account: InstagramBusinessAccount) -> str:
    """Ask the Graph API whom the token speaks for; record and return the answer."""
    try:
        result = f"ok: {graph.client_for(account).check_token()}"
    except graph.InvalidTokenError as exc:
        account.mark_token_invalid(str(exc))
        return f"invalid: {exc}"
    except (graph.GraphAPIError, EncryptionKeyError) as exc:
        result = f"could not check: {exc}"
    InstagramBusinessAccount.objects.filter(pk=account.pk).update(
        token_checked_at=timezone.now(), token_check_result=result
    )
    return result


def refresh_expiring_tokens(now: datetime | None = None) -> int:
    """Refresh Instagram Login tokens before they expire (run by the worker). Returns how many."""
    now = now or timezone.now()
    due = InstagramBusinessAccount.objects.filter(
        api=InstagramBusinessAccount.Api.INSTAGRAM_LOGIN,
        is_active=True,
        token_invalid_since__isnull=True,
        access_token_set_at__lte=now - TOKEN_MIN_AGE,
    ).exclude(access_token="")
    refreshed = 0
    for account in due:
        expires = account.access_token_expires_at
        if expires is not None and expires - now > REFRESH_BEFORE:
            continue
        try:
            fresh = graph.client_for(account).refresh_instagram_token()
        except EncryptionKeyError as exc:
            logger.error(
                "CREDENTIALS PROBLEM: account %s's token cannot be refreshed: %s", account, exc
            )
            continue
        except graph.InvalidTokenError as exc:
            logger.error(
                "CREDENTIALS PROBLEM: account %s's token cannot be refreshed: %s", account, exc
            )
            account.mark_token_invalid(str(exc))
            continue
        except graph.GraphAPIError as exc:
            logger.warning("Refreshing account %s's token failed, will try again: %s", account, exc)
            continue
        account.set_access_token(fresh.access_token, now + timedelta(seconds=fresh.expires_in))
        account.save(update_fields=["access_token", *TOKEN_STATE_FIELDS])
        logger.info(
            "Refreshed account %s's token; it expires %s", account, account.access_token_expires_at
        )
        refreshed += 1
    return refreshed
