"""`manage.py simulate_dm --text "..." [--sender ID]`: post a signed, Meta-shaped DM to a webhook.

Without --sender each run is a new customer, so the bot answers each one (a customer already
answered gets the fallback reply at most once per FALLBACK_COOLDOWN_HOURS). Taps and the
other triggers: --postback, --quick-reply, --attachment, --story-mention, --story-reply,
--ref and --ad (alone: the customer opened the thread from a link or an ad).
"""

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.services import app_secret_for, stored_account
from devtools.simulation import (
    DEMO_ACCOUNT_ID,
    customer_event,
    event_delivery,
    new_customer_id,
    new_mid,
    signed_headers,
)


class Command(BaseCommand):
    help = "Post a correctly signed Instagram DM delivery to a running webhook, as Meta would."

    def add_arguments(self, parser):
        parser.add_argument(
            "--sender",
            default="",
            help="the customer's IGSID (default: a new customer each run; repeat one to "
            "continue a conversation)",
        )
        parser.add_argument(
            "--text", default="", help="what the customer writes (a tap: the button's title)"
        )
        parser.add_argument("--postback", default="", help="tap a button with this payload")
        parser.add_argument(
            "--quick-reply", default="", help="tap a quick reply with this payload (--text: title)"
        )
        parser.add_argument(
            "--attachment", default="", help="send an attachment of this type (image, video …)"
        )
        parser.add_argument("--story-mention", action="store_true", help="mention us in a story")
        parser.add_argument("--story-reply", action="store_true", help="reply to our story")
        parser.add_argument(
            "--ref", default=None, help="came from ig.me/m/<username>?ref=this (alone: opened it)"
        )
        parser.add_argument("--ad", default="", help="came from the ad with this id")
        parser.add_argument("--account", default=DEMO_ACCOUNT_ID, help="our account's Instagram id")
        parser.add_argument("--mid", default="", help="the message id (repeat one to redeliver)")
        parser.add_argument(
            "--url",
            default="http://127.0.0.1:8000/webhooks/instagram",
            help="the webhook to post to (default: %(default)s)",
        )

    def handle(self, *, sender, text, account, mid, url, **options):
        if not settings.FACEBOOK_APP_SECRET:
            raise CommandError("FACEBOOK_APP_SECRET is not set: there is nothing to sign with.")
        mid = mid or new_mid()
        sender = sender or new_customer_id()
        event = customer_event(
            mid=mid,
            text=text,
            postback=options["postback"],
            quick_reply=options["quick_reply"],
            attachment=options["attachment"],
            story="mention"
            if options["story_mention"]
            else "reply"
            if options["story_reply"]
            else "",
            ref=options["ref"],
            ad_id=options["ad"],
        )
        if event == {"message": {"mid": mid}}:
            raise CommandError("Say what the customer sends: --text, or a tap, an attachment …")
        body = event_delivery(account_id=account, sender_id=sender, event=event)
        try:
            response = requests.post(
                url,
                data=body,
                # As Meta signs: with the secret of the login the account was connected with.
                headers=signed_headers(body, app_secret_for(stored_account(account))),
                timeout=30,
            )
        except requests.RequestException as exc:
            raise CommandError(f"Could not reach {url}: {exc}") from None
        summary = (
            f"{response.status_code} {response.text.strip()[:200]} (mid {mid}, sender {sender})"
        )
        if response.status_code != 200:
            raise CommandError(f"The webhook answered {summary}")
        self.stdout.write(self.style.SUCCESS(f"Delivered: {summary}"))
