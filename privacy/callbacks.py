"""Meta's deauthorize and data deletion callbacks: which login's secret signed the request,
the accounts that person connected, and what happens to them."""

import logging

from django.conf import settings
from django.db import IntegrityError, transaction

from accounts.models import InstagramBusinessAccount
from messaging.task_queue import enqueue
from meta import signed_request
from privacy import erasure
from privacy.models import DataDeletionRequest

logger = logging.getLogger(__name__)


def verify(value: str) -> tuple[signed_request.SignedRequest, str]:
    """The request and the login whose app secret signed it (the Instagram app's, or the
    Meta app's for Facebook Login). Raises signed_request.InvalidSignedRequest."""
    by_secret = {
        settings.INSTAGRAM_APP_SECRET: DataDeletionRequest.Login.INSTAGRAM,
        settings.FACEBOOK_APP_SECRET: DataDeletionRequest.Login.FACEBOOK,
    }
    parsed, secret = signed_request.parse(value, [s for s in by_secret if s])
    return parsed, by_secret[secret]


def accounts_connected_by(user_id: str, login: str):
    return InstagramBusinessAccount.objects.filter(app_scoped_user_id=user_id, api=login)


def deauthorize(parsed: signed_request.SignedRequest, login: str) -> int:
    """The person removed the app: their accounts stop using their tokens (Reconnect shown);
    nothing else changes. Returns how many accounts."""
    accounts = list(accounts_connected_by(parsed.user_id, login))
    for account in accounts:
        account.mark_token_invalid(
            "deauthorized: the person who connected it removed the app at Meta"
        )
        logger.warning("Account %s deauthorized at Meta: reconnect it", account.instagram_id)
    return len(accounts)


def request_deletion(parsed: signed_request.SignedRequest, login: str) -> DataDeletionRequest:
    """The request, stored once however often Meta sends it; the worker erases."""
    key = {"login": login, "app_scoped_user_id": parsed.user_id, "issued_at": parsed.issued_at}
    try:
        with transaction.atomic():
            deletion, created = DataDeletionRequest.objects.get_or_create(**key)
            if deletion.state == DataDeletionRequest.State.PENDING:
                # Queued again on a redelivery too: a lost task is found again this way.
                enqueue(erasure.erase_for_deletion_request_task, deletion.pk)
    except IntegrityError:
        # The same request raced in twice: the other one stored it.
        deletion, created = DataDeletionRequest.objects.get(**key), False
    logger.info(
        "Data deletion %s %s for a %s user (%d account(s))",
        deletion.confirmation_code,
        "requested" if created else "requested again",
        deletion.get_login_display(),
        accounts_connected_by(parsed.user_id, login).count(),
    )
    return deletion
