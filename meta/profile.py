"""The account's messenger profile: its ice breakers and persistent menu, as staff set them or
as Meta has them (GET/POST/DELETE me/messenger_profile, in meta.graph)."""

from dataclasses import dataclass, field

from meta.messages import (
    ICE_BREAKER_QUESTION_MAX,
    ICE_BREAKERS_PER_LOCALE,
    MENU_ITEMS_MAX,
    Button,
    buttons_from_json,
    plain,
)


@dataclass(frozen=True)
class IceBreaker:
    question: str
    payload: str


@dataclass(frozen=True)
class MessengerProfile:
    """Ice breakers per locale and the persistent menu, as we want them or as Meta has them."""

    ice_breakers: dict[str, tuple[IceBreaker, ...]] = field(default_factory=dict)
    persistent_menu: tuple[Button, ...] = ()

    def problems(self) -> list[str]:
        found = []
        if self.ice_breakers and "default" not in self.ice_breakers:
            found.append('Ice breakers need a "default" locale.')
        for locale, breakers in self.ice_breakers.items():
            if len(breakers) > ICE_BREAKERS_PER_LOCALE:
                found.append(
                    f"At most {ICE_BREAKERS_PER_LOCALE} ice breakers per locale "
                    f"({len(breakers)} for {locale})."
                )
            for breaker in breakers:
                if len(breaker.question) > ICE_BREAKER_QUESTION_MAX:
                    found.append(
                        f"Ice breaker questions have at most {ICE_BREAKER_QUESTION_MAX} characters."
                    )
        if len(self.persistent_menu) > MENU_ITEMS_MAX:
            found.append(f"The menu has at most {MENU_ITEMS_MAX} items.")
        for item in self.persistent_menu:
            found.extend(item.problems())
        return found

    def to_graph(self) -> dict:
        body = {"platform": "instagram"}
        if self.ice_breakers:
            body["ice_breakers"] = [
                {
                    "locale": locale,
                    "call_to_actions": [
                        {"question": b.question, "payload": b.payload} for b in breakers
                    ],
                }
                for locale, breakers in sorted(self.ice_breakers.items())
            ]
        if self.persistent_menu:
            body["persistent_menu"] = [
                {
                    "locale": "default",
                    "call_to_actions": [item.to_graph() for item in self.persistent_menu],
                }
            ]
        return body

    def as_json(self) -> dict:
        return {
            "ice_breakers": {
                locale: [vars(b) for b in breakers]
                for locale, breakers in sorted(self.ice_breakers.items())
            },
            "persistent_menu": [plain(item) for item in self.persistent_menu],
        }


def profile_from_graph(data: dict) -> MessengerProfile:
    """Meta's answer to GET messenger_profile (`data[0]`), as a MessengerProfile."""
    ice_breakers: dict[str, tuple[IceBreaker, ...]] = {}
    for group in data.get("ice_breakers") or ():
        if not isinstance(group, dict):
            continue
        ice_breakers[str(group.get("locale") or "default")] = tuple(
            IceBreaker(str(item.get("question", "")), str(item.get("payload", "")))
            for item in group.get("call_to_actions") or ()
            if isinstance(item, dict)
        )
    menu: tuple[Button, ...] = ()
    for group in data.get("persistent_menu") or ():
        if isinstance(group, dict) and (group.get("locale") or "default") == "default":
            menu = buttons_from_json(
                item for item in group.get("call_to_actions") or () if isinstance(item, dict)
            )
    return MessengerProfile(ice_breakers, menu)
