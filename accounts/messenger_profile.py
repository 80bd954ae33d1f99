"""Pushing an account's ice breakers and persistent menu to Meta, and reading back what Meta
has, so that staff see drift (a change made elsewhere, a push that did not take)."""

import logging

from accounts.encryption import EncryptionKeyError
from accounts.models import InstagramBusinessAccount
from meta import graph

logger = logging.getLogger(__name__)


def push(account: InstagramBusinessAccount) -> str:
    """Send staff's ice breakers and menu to Meta, then read them back. Returns what happened,
    in a sentence for staff; a refusal is recorded on the account too."""
    wanted = account.messenger_profile()
    if problems := wanted.problems():
        return f"not pushed: {' '.join(problems)}"
    try:
        graph.client_for(account).set_messenger_profile(wanted)
    except (graph.GraphAPIError, EncryptionKeyError) as exc:
        logger.warning("Could not push the messenger profile of account %s: %s", account.pk, exc)
        account.record_messenger_profile(None, f"push refused: {exc}")
        return f"not pushed: {exc}"
    logger.info("Pushed the ice breakers and menu of account %s", account.pk)
    return "pushed; " + read_back(account)


def read_back(account: InstagramBusinessAccount) -> str:
    """Read Meta's ice breakers and menu into the account; says whether they match ours."""
    try:
        at_meta = graph.client_for(account).get_messenger_profile()
    except (graph.GraphAPIError, EncryptionKeyError) as exc:
        account.record_messenger_profile(None, f"could not read back: {exc}")
        return f"could not read back: {exc}"
    account.record_messenger_profile(at_meta.as_json())
    if account.messenger_profile_drift():
        logger.warning("Meta's ice breakers or menu differ from ours for account %s", account.pk)
        return "Meta's ice breakers or menu differ from ours (drift)"
    return "Meta has the same ice breakers and menu as we do"
