"""What the enabled features need from Meta, per login: the permissions to ask for and the
webhook fields to subscribe. The connect flow asks for these and the setup check compares
what Meta granted and subscribed against them."""

from dataclasses import dataclass

from django.apps import apps

INSTAGRAM_LOGIN = "instagram_login"
FACEBOOK_LOGIN = "facebook_login"


@dataclass(frozen=True)
class Feature:
    name: str
    permissions: dict[str, tuple[str, ...]]  # per login
    # Instagram Login: fields of the account's own subscription (me/subscribed_apps).
    # Facebook Login: fields of the Page's subscription; the Instagram fields themselves are
    # set in the app's dashboard (README, "Connecting a real Instagram account").
    webhook_fields: dict[str, tuple[str, ...]]
    app: str = ""  # the app that provides it; empty: always on


FEATURES = (
    Feature(
        "Direct messages (receiving, bot and staff replies)",
        permissions={
            INSTAGRAM_LOGIN: ("instagram_business_basic", "instagram_business_manage_messages"),
            FACEBOOK_LOGIN: (
                "instagram_basic",
                "instagram_manage_messages",
                "pages_messaging",
                "pages_show_list",
                "pages_manage_metadata",
                "business_management",
            ),
        },
        webhook_fields={
            INSTAGRAM_LOGIN: (
                "messages",
                "messaging_postbacks",
                "messaging_seen",
                "message_reactions",
                "messaging_referral",
            ),
            FACEBOOK_LOGIN: (
                "messages",
                "messaging_postbacks",
                "message_reactions",
                "messaging_referrals",
                "message_reads",
            ),
        },
    ),
    Feature(
        "Comments and mentions (private and public replies)",
        permissions={
            INSTAGRAM_LOGIN: ("instagram_business_basic", "instagram_business_manage_comments"),
            FACEBOOK_LOGIN: (
                "instagram_basic",
                "instagram_manage_comments",
                "pages_read_engagement",
            ),
        },
        webhook_fields={INSTAGRAM_LOGIN: ("comments", "mentions"), FACEBOOK_LOGIN: ()},
        app="comments",
    ),
)


def enabled_features() -> list[Feature]:
    return [f for f in FEATURES if not f.app or apps.is_installed(f.app)]


def scopes(login: str) -> list[str]:
    """The permissions to ask for, in a stable order."""
    return _union(feature.permissions[login] for feature in enabled_features())


def webhook_fields(login: str) -> list[str]:
    return _union(feature.webhook_fields[login] for feature in enabled_features())


def features_switched_off(login: str, granted) -> dict[str, list[str]]:
    """For each permission not granted: the features it switches off."""
    granted = set(granted)
    off: dict[str, list[str]] = {}
    for feature in enabled_features():
        for permission in feature.permissions[login]:
            if permission not in granted:
                off.setdefault(permission, []).append(feature.name)
    return off


def _union(groups) -> list[str]:
    seen: list[str] = []
    for group in groups:
        seen += [name for name in group if name not in seen]
    return seen
