"""Choosing the reply to an incoming message.

For now every customer message gets DEFAULT_REPLY_TEXT; keyword rules edited by staff come
next, behind this same function.
"""

from django.conf import settings


def choose_reply(account_id: str, text: str) -> str:
    """The reply for a customer's message `text` to the account `account_id`."""
    return settings.DEFAULT_REPLY_TEXT
