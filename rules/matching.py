"""
Choosing the reply to a customer's message: the staff's keyword rules, else a fallback.

`Matcher` is plain Python over plain data, testable without a database. It finds every keyword
occurrence in one pass over the message (Aho-Corasick), whatever the number of rules, then
keeps the best rule whose match kind accepts its occurrence: highest priority first, ties to
the oldest rule.

`choose_reply` uses one Matcher per process, rebuilt when rules change: at once in the process
that saved them (signals), within RULES_FRESH_FOR seconds in every other (a cheap version query).
"""

import threading
import time
import unicodedata
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import Count, Max

from meta.messages import Text

# How long a process trusts its matcher before asking the database whether rules changed.
RULES_FRESH_FOR = 1.0

# Emoji presentation selectors: "❤️" and "❤" are the same heart to a customer.
_IGNORED_CHARACTERS = dict.fromkeys(map(ord, "\ufe0e\ufe0f"))


def normalize(text: str) -> str:
    """Fold case, compatibility forms and emoji presentation, so equal-looking text matches."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return unicodedata.normalize("NFKC", folded).translate(_IGNORED_CHARACTERS).strip()


# Which trigger answers when several could, first to last: the most deliberate act of the
# customer first (a tap), then where they came from, then what they wrote. A welcome comes
# before keywords: a new customer's "price?" gets the welcome, which can offer the prices.
TRIGGER_ORDER = (
    "payload",
    "referral",
    "story_mention",
    "story_reply",
    "welcome",
    "keywords",
    "attachment",
)


@dataclass(frozen=True)
class RuleSpec:
    """What matching needs of a ResponseRule."""

    id: int
    keywords: tuple[str, ...]
    match_type: str  # a ResponseRule.MatchType value
    priority: int
    created_at: datetime
    response_text: str
    account_id: int | None = None
    trigger: str = "keywords"  # a ResponseRule.Trigger value
    payload: str = ""
    referral_ref: str = ""
    attachment_types: frozenset[str] = frozenset()
    # Everything the rule sends, in order (meta.messages shapes); empty: its text alone.
    messages: tuple = ()

    @property
    def rank(self) -> tuple:
        """Sorts best first: highest priority, then oldest."""
        return (-self.priority, self.created_at, self.id)


@dataclass(frozen=True)
class Incoming:
    """What the bot knows of a customer's message when it chooses the reply."""

    text: str = ""
    payload: str = ""  # the tapped button's or quick reply's
    referral_ref: str | None = None  # None: not from a link or an ad
    ad_id: str = ""
    story_mention: bool = False
    story_reply: bool = False
    attachment_types: tuple[str, ...] = ()
    # Asked only when a welcome rule could answer (it costs a query).
    is_first_message: Callable[[], bool] = lambda: False
    # They opened the thread from a link or an ad, and wrote nothing (yet).
    opens_thread: bool = False
    # The stored message and its conversation (None: "Try a message"), for answerers.
    message_id: int | None = None
    conversation_id: int | None = None


@dataclass(frozen=True)
class Reply:
    text: str
    rule: RuleSpec | None = None  # None: an answerer's answer, or the fallback
    trigger: str = ""  # which trigger chose the rule
    # An answerer's answer (a feature's object): what it answered from. Its record(message)
    # keeps that with the reply once queued; its `summary` says it to staff.
    answer: object | None = None
    # The fallback's: why the answerers did not answer (Try a message shows it).
    notes: tuple[str, ...] = ()
    # An answerer's answer that waits for a slow service (knowledge's assistant): nothing is
    # queued with the message; the answerer queues the reply once the event has committed
    # (messaging.replies.queue_late_bot_reply), `text` being what goes if the service fails.
    later: bool = False

    @property
    def is_fallback(self) -> bool:
        return self.rule is None and self.answer is None

    @property
    def messages(self) -> tuple:
        """What goes out, in order."""
        if self.rule is not None and self.rule.messages:
            return self.rule.messages
        return (Text(self.text),)


class Matcher:
    def __init__(self, rules: Iterable[RuleSpec]):
        by_keyword: dict[str, list[RuleSpec]] = defaultdict(list)
        by_trigger: dict[str, list[RuleSpec]] = defaultdict(list)
        self._by_id: dict[int, RuleSpec] = {}
        for rule in rules:
            self._by_id[rule.id] = rule
            if rule.trigger != "keywords":
                by_trigger[rule.trigger].append(rule)
                continue
            for keyword in {normalize(k) for k in rule.keywords} - {""}:
                by_keyword[keyword].append(rule)
        for candidates in [*by_keyword.values(), *by_trigger.values()]:
            candidates.sort(key=lambda rule: rule.rank)
        self._by_keyword = dict(by_keyword)
        self._by_trigger = dict(by_trigger)
        self._keywords = _KeywordFinder(self._by_keyword)

    def rule(self, rule_id: int) -> RuleSpec | None:
        """The active rule with this id (a flow going on to it), or None."""
        return self._by_id.get(rule_id)

    def choose(self, incoming: Incoming, account_id: int | None) -> tuple[RuleSpec | None, str]:
        """The rule that answers `incoming` for the account, and the trigger that chose it,
        asking the triggers in TRIGGER_ORDER; (None, "") when none does."""
        for trigger in TRIGGER_ORDER:
            if trigger == "keywords":
                rule = self.match(incoming.text, account_id) if incoming.text.strip() else None
            else:
                rule = self._first(trigger, incoming, account_id)
            if rule is not None:
                return rule, trigger
        return None, ""

    def _first(self, trigger: str, incoming: Incoming, account_id: int | None) -> RuleSpec | None:
        candidates = [
            rule
            for rule in self._by_trigger.get(trigger, ())
            if rule.account_id in (None, account_id)
        ]
        if not candidates:
            return None
        applies = _TRIGGER_TESTS[trigger]
        if trigger == "welcome":
            # One question for all of them, asked once a welcome rule could answer.
            return candidates[0] if incoming.is_first_message() else None
        return next((rule for rule in candidates if applies(rule, incoming)), None)

    def match(
        self,
        text: str,
        account_id: int | None = None,
        accepts: Callable[[RuleSpec], bool] | None = None,
    ) -> RuleSpec | None:
        """The best rule answering `text` for the account, or None. `accepts`: a further
        condition a rule must meet (comment rules: their post)."""
        text = normalize(text)
        best = None
        for start, end, keyword in self._keywords.find(text):
            for rule in self._by_keyword[keyword]:
                if best is not None and rule.rank >= best.rank:
                    break  # the rest rank lower still
                if rule.account_id not in (None, account_id):
                    continue
                if _accepts(rule.match_type, text, start, end) and (
                    accepts is None or accepts(rule)
                ):
                    best = rule
                    break
        return best


def _from_referral(rule: RuleSpec, incoming: Incoming) -> bool:
    if incoming.referral_ref is None:
        return False
    return rule.referral_ref in ("", incoming.referral_ref, incoming.ad_id)


def _no_text_of_type(rule: RuleSpec, incoming: Incoming) -> bool:
    if incoming.text.strip() or not incoming.attachment_types:
        return False
    return not rule.attachment_types or bool(rule.attachment_types & set(incoming.attachment_types))


_TRIGGER_TESTS: dict[str, Callable[[RuleSpec, Incoming], bool]] = {
    "payload": lambda rule, incoming: bool(incoming.payload) and rule.payload == incoming.payload,
    "referral": _from_referral,
    "story_mention": lambda rule, incoming: incoming.story_mention,
    "story_reply": lambda rule, incoming: incoming.story_reply,
    "welcome": lambda rule, incoming: True,
    "attachment": _no_text_of_type,
}


def _accepts(match_type: str, text: str, start: int, end: int) -> bool:
    if match_type == "contains":
        return True
    if match_type == "starts_with":
        return start == 0
    if match_type == "exact":
        return start == 0 and end == len(text)
    if match_type == "word":
        # Not glued to more letters or digits on either side ("hat" is not in "chat", but
        # "👍" is a word in "great👍").
        return not _joined(text, start) and not _joined(text, end)
    raise ValueError(f"unknown match type {match_type!r}")


def _joined(text: str, position: int) -> bool:
    """Whether word characters stand on both sides of `position`."""
    return 0 < position < len(text) and _is_word(text[position - 1]) and _is_word(text[position])


def _is_word(character: str) -> bool:
    return character.isalnum() or character == "_"


class _KeywordFinder:
    """Aho-Corasick: every occurrence of every keyword in one pass over the text."""

    def __init__(self, keywords: Iterable[str]):
        self._next: list[dict[str, int]] = [{}]
        self._outputs: list[list[str]] = [[]]
        for keyword in keywords:
            node = 0
            for character in keyword:
                if character not in self._next[node]:
                    self._next.append({})
                    self._outputs.append([])
                    self._next[node][character] = len(self._next) - 1
                node = self._next[node][character]
            self._outputs[node].append(keyword)

        # Failure links, breadth first: where to continue when the next character does not
        # extend the current match. Outputs of the failure node are inherited.
        self._fail = [0] * len(self._next)
        queue = deque(self._next[0].values())
        while queue:
            node = queue.popleft()
            for character, child in self._next[node].items():
                fallback = self._fail[node]
                while fallback and character not in self._next[fallback]:
                    fallback = self._fail[fallback]
                self._fail[child] = self._next[fallback].get(character, 0)
                if self._fail[child] == child:
                    self._fail[child] = 0
                self._outputs[child] = self._outputs[child] + self._outputs[self._fail[child]]
                queue.append(child)

    def find(self, text: str) -> Iterator[tuple[int, int, str]]:
        node = 0
        for index, character in enumerate(text):
            while node and character not in self._next[node]:
                node = self._fail[node]
            node = self._next[node].get(character, 0)
            for keyword in self._outputs[node]:
                yield index + 1 - len(keyword), index + 1, keyword


# --- the process's matcher ------------------------------------------------------------------

_lock = threading.Lock()
_matcher: Matcher | None = None
_version: tuple | None = None
_checked_at = 0.0


def current_matcher() -> Matcher:
    global _matcher, _version, _checked_at
    with _lock:
        if _matcher is not None and time.monotonic() - _checked_at < RULES_FRESH_FOR:
            return _matcher
        version = _rules_version()
        if _matcher is None or version != _version:
            _matcher, _version = Matcher(_load_active_rules()), version
        _checked_at = time.monotonic()
        return _matcher


def forget_matcher(**kwargs) -> None:
    """Rules changed in this process: rebuild before the next match (a signal receiver)."""
    global _matcher
    with _lock:
        _matcher = None


def _rules_version() -> tuple:
    # Any save moves updated_at; a deletion changes the count.
    from rules.models import ResponseRule

    return tuple(ResponseRule.objects.aggregate(Count("id"), Max("updated_at")).values())


def _load_active_rules() -> list[RuleSpec]:
    from rules.models import ResponseRule, outgoing_messages, split_keywords, split_list

    rules = ResponseRule.objects.filter(is_active=True).prefetch_related("extra_messages")
    return [
        RuleSpec(
            id=rule.pk,
            keywords=tuple(split_keywords(rule.keywords)),
            match_type=rule.match_type,
            priority=rule.priority,
            created_at=rule.created_at,
            response_text=rule.response_text,
            account_id=rule.account_id,
            trigger=rule.trigger,
            payload=rule.payload,
            referral_ref=rule.referral_ref,
            attachment_types=frozenset(split_list(rule.attachment_types)),
            messages=outgoing_messages(rule, rule.extra_messages.all()),
        )
        for rule in rules
    ]


# --- answerers: feature apps answering what no rule does, before the fallback -----------------

# Callables (account, Incoming) -> Reply | str | None, registered in their AppConfig.ready,
# asked in order: the first Reply answers; a str declines, saying why; None: not for it. An
# answerer must be quick and must never raise for a message.
_answerers: list[Callable[..., Reply | str | None]] = []


def register_answerer(answerer: Callable[..., Reply | str | None]) -> None:
    if answerer not in _answerers:
        _answerers.append(answerer)


def fallback_text(account) -> str:
    return (account.fallback_reply if account else "") or settings.DEFAULT_REPLY_TEXT


def answer(account, incoming: Incoming) -> tuple[Reply | None, str]:
    """What the bot sends for a message, or None and why not: the rule its triggers choose,
    else a registered answerer's answer (knowledge), else the fallback, under the policy for
    messages without text (NO_TEXT_REPLY). What the worker sends and what "Try a message"
    shows, from one place."""
    reply = choose_reply(account, incoming)
    if reply.is_fallback and incoming.opens_thread:
        return None, "no rule answers this link or ad, and opening a thread says nothing"
    if reply.is_fallback and not incoming.text.strip():
        # No rule for a message without text (a photo, a sticker, a story mention).
        if settings.NO_TEXT_REPLY == "none":
            return None, "it has no text, and NO_TEXT_REPLY is none"
        if settings.NO_TEXT_REPLY != "fallback":
            reply = Reply(settings.NO_TEXT_REPLY)
    if not reply.text.strip():
        return None, "the reply it would get is empty"
    return reply, ""


def choose_reply(account, incoming: Incoming | str) -> Reply:
    """The reply to a customer's message for `account` (an InstagramBusinessAccount or None):
    the rule its triggers choose, else a registered answerer's, else the fallback. A str is a
    plain text message."""
    if isinstance(incoming, str):
        incoming = Incoming(text=incoming)
    rule, trigger = current_matcher().choose(incoming, account.pk if account else None)
    if rule:
        return Reply(rule.response_text, rule, trigger)
    notes = []
    if incoming.text.strip():
        for answerer in _answerers:
            outcome = answerer(account, incoming)
            if isinstance(outcome, Reply):
                return outcome
            if outcome:
                notes.append(outcome)
    return Reply(fallback_text(account), notes=tuple(notes))
