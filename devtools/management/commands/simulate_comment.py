"""`manage.py simulate_comment --text "..." [--author ID]`: post a signed, Meta-shaped comment
delivery to a webhook; with `--mention`, a `mentions` delivery (the account @mentioned in a
comment, or with `--caption` in a caption, on someone's media)."""

from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.services import app_secret_for, stored_account
from devtools.fake_comments import POSTS
from devtools.management.commands.fake_graph_api import LOOPBACK_HOSTS
from devtools.simulation import (
    DEMO_ACCOUNT_ID,
    comment_delivery,
    mention_delivery,
    new_comment_id,
    new_customer_id,
    signed_headers,
)


class Command(BaseCommand):
    help = "Post a correctly signed Instagram comment delivery to a running webhook, as Meta would."

    def add_arguments(self, parser):
        parser.add_argument(
            "--author",
            default="",
            help="the commenter's Instagram-scoped id (default: a new commenter each run; "
            "repeat one to answer their private reply with simulate_dm --sender)",
        )
        parser.add_argument("--text", required=True, help="what the commenter writes")
        parser.add_argument("--username", default="", help="the commenter's username")
        parser.add_argument(
            "--media",
            default=POSTS[0][0],
            help="the post's id (default: the fake Graph API's newest post, %(default)s)",
        )
        parser.add_argument("--account", default=DEMO_ACCOUNT_ID, help="our account's Instagram id")
        parser.add_argument("--comment-id", default="", help="the comment id (repeat to redeliver)")
        parser.add_argument("--parent", default="", help="the comment this one answers")
        parser.add_argument("--live", action="store_true", help="a comment on a live broadcast")
        parser.add_argument(
            "--mention",
            action="store_true",
            help="the account is @mentioned: a `mentions` change (ids only; the fake Graph API "
            "learns the text, which the worker reads)",
        )
        parser.add_argument(
            "--caption",
            action="store_true",
            help="with --mention: mentioned in the caption of --media, not in a comment",
        )
        parser.add_argument(
            "--url",
            default="http://127.0.0.1:8000/webhooks/instagram",
            help="the webhook to post to (default: %(default)s)",
        )

    def handle(self, *, author, text, username, media, account, comment_id, parent, live, url, **o):
        if not settings.FACEBOOK_APP_SECRET:
            raise CommandError("FACEBOOK_APP_SECRET is not set: there is nothing to sign with.")
        if o["caption"] and not o["mention"]:
            raise CommandError("--caption goes with --mention.")
        comment_id = "" if o["caption"] else comment_id or new_comment_id()
        author = author or new_customer_id()
        if o["mention"]:
            body = mention_delivery(account_id=account, media_id=media, comment_id=comment_id)
            mention = {"media_id": media, "comment_id": comment_id, "text": text}
            self._tell_the_fake_graph_api("mentions", {**mention, "username": username})
            what = f"mention in comment {comment_id}" if comment_id else "mention in a caption"
        else:
            body = comment_delivery(
                account_id=account,
                comment_id=comment_id,
                author_id=author,
                text=text,
                media_id=media,
                username=username,
                parent_id=parent,
                live=live,
            )
            self._tell_the_fake_graph_api("comments", {"id": comment_id, "author_id": author})
            what = f"comment {comment_id}, author {author}"
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
        summary = f"{response.status_code} {response.text.strip()[:200]} ({what})"
        if response.status_code != 200:
            raise CommandError(f"The webhook answered {summary}")
        self.stdout.write(self.style.SUCCESS(f"Delivered: {summary}"))

    def _tell_the_fake_graph_api(self, what: str, facts: dict) -> None:
        """When the fake Graph API stands in for Meta here, it learns the comment's author, so
        that the private reply goes to them (as Meta's would) and `simulate_dm --sender` can
        answer it; or the mention's text, which the worker reads from it."""
        if urlsplit(settings.GRAPH_API_BASE_URL).hostname not in LOOPBACK_HOSTS:
            return
        try:
            requests.post(f"{settings.GRAPH_API_BASE_URL}/_fake/{what}", json=facts, timeout=5)
        except requests.RequestException:
            pass  # no fake running: the comment is delivered all the same
