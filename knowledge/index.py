"""Finding the entries that answer a customer's question: BM25 (the `bm25s` library) over the
ways customers ask each entry, one index per account (its entries and the shared ones).

`KnowledgeIndex` is plain Python over plain data, testable without a database. `index_for`
keeps one per account and process, rebuilt when entries change: at once in the process that
saved them (signals), within ENTRIES_FRESH_FOR seconds in every other (a cheap version query),
as the rules' matcher is; `settings_for` keeps the accounts' knowledge settings so.

BM25's scores grow with the question's length and the knowledge's size, so they make a poor
threshold: the confidence is how much of the question the best entry covers instead, each
word weighted by how rare it is in the knowledge (a word no entry has weighs most).
"""

import math
import re
import threading
import time
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import bm25s
import numpy as np
from bm25s import stopwords as bm25s_stopwords
from django.db.models import Count, Max

from rules import matching
from rules.matching import normalize

ENTRIES_FRESH_FOR = 1.0

# Words cut to their first letters: a light stem that holds across the languages customers
# write in ("envios"/"envio", "devolver"/"devolucion", "opening"/"opens"); measured on the
# evaluation set (docs/performance.md).
STEM_LENGTH = 5

# A word no entry has, against the rarest known word: it weighs in (the question may be about
# something the knowledge lacks), but a typo or a greeting alone does not sink an answer.
UNKNOWN_WORD_WEIGHT = 0.5

_WORD = re.compile(r"\w+")
_ADDRESSES = re.compile(r"\S+@\S+|https?://\S+|www\.\S+", re.IGNORECASE)


_ACCENTS = re.compile("[\u0300-\u036f]")  # Unicode's combining diacritical marks


def _fold(text: str) -> str:
    """Without accents: customers type "envio" for "envío", "a" for "à"."""
    return _ACCENTS.sub("", unicodedata.normalize("NFKD", text))


_STOPWORDS = frozenset(
    _fold(normalize(word))
    for words in (
        bm25s_stopwords.STOPWORDS_EN_PLUS,
        bm25s_stopwords.STOPWORDS_SPANISH,
        bm25s_stopwords.STOPWORDS_PORTUGUESE,
        bm25s_stopwords.STOPWORDS_FRENCH,
        bm25s_stopwords.STOPWORDS_GERMAN,
        bm25s_stopwords.STOPWORDS_ITALIAN,
        bm25s_stopwords.STOPWORDS_DUTCH,
    )
    for word in words
)


def tokens(text: str) -> list[str]:
    """The words of `text` that say what it is about, folded and lightly stemmed."""
    words = _WORD.findall(_fold(normalize(text)))
    return [
        word[:STEM_LENGTH]
        for word in words
        if word not in _STOPWORDS and (len(word) > 1 or word.isdigit())
    ]


@dataclass(frozen=True)
class EntrySpec:
    """What retrieval needs of a KnowledgeEntry."""

    id: int
    title: str
    questions: tuple[str, ...]
    answer: str
    reply_text: str  # what the customer gets (the answer and its link)
    link: str = ""
    account_id: int | None = None


@dataclass(frozen=True)
class Match:
    entry: EntrySpec
    score: float  # BM25, for ranking
    confidence: float  # 0..1: how much of the question the entry covers


class KnowledgeIndex:
    def __init__(self, entries: Iterable[EntrySpec]):
        self.entries = list(entries)
        # One document per phrasing (the title is one): a short question matches a short one.
        entry_of: list[int] = []
        documents: list[list[str]] = []
        self._vocabulary: list[set[str]] = []
        for position, entry in enumerate(self.entries):
            words: set[str] = set()
            # The answer too, but for its addresses: customers ask with its words ("open on
            # Sundays?"), while "hello" is no question about hello@shop.example.
            answer = _ADDRESSES.sub(" ", entry.answer)
            for phrasing in (entry.title, *entry.questions, answer):
                if document := tokens(phrasing):
                    documents.append(document)
                    entry_of.append(position)
                    words.update(document)
            self._vocabulary.append(words)
        counts = Counter(word for words in self._vocabulary for word in words)
        n = max(len(self.entries), 1)
        self._idf = {word: math.log(1 + n / count) for word, count in counts.items()}
        self._unknown_idf = math.log(1 + n / 0.5) * UNKNOWN_WORD_WEIGHT
        self._entry_of = np.array(entry_of, dtype=np.int64)
        self._bm25 = None
        if documents:
            self._bm25 = bm25s.BM25()
            self._bm25.index(documents, show_progress=False)

    def __len__(self) -> int:
        return len(self.entries)

    def search(self, text: str, limit: int = 3) -> list[Match]:
        """The entries best answering `text`, best first (at most `limit`)."""
        query = tokens(text)
        if self._bm25 is None or not query:
            return []
        vocabulary = self._bm25.vocab_dict
        known = [word for word in query if word in vocabulary]
        if not known:
            return []
        # An entry scores as its best phrasing.
        per_entry = np.zeros(len(self.entries))
        np.maximum.at(per_entry, self._entry_of, self._bm25.get_scores(known))
        found = np.flatnonzero(per_entry > 0)
        # Best first; among equals, the oldest entry (entries are loaded by id).
        ranked = [
            (int(position), float(per_entry[position]))
            for position in found[np.argsort(-per_entry[found], kind="stable")][:limit]
        ]
        weights = {word: self._idf.get(word, self._unknown_idf) for word in set(query)}
        total = sum(weights.values())
        return [
            Match(
                entry=self.entries[position],
                score=round(score, 4),
                confidence=round(
                    sum(w for word, w in weights.items() if word in self._vocabulary[position])
                    / total,
                    4,
                ),
            )
            for position, score in ranked
        ]


# --- the process's indexes ------------------------------------------------------------------

_lock = threading.Lock()
_indexes: dict[int | None, KnowledgeIndex] = {}
_version: tuple | None = None
_checked_at = 0.0
_settings: dict | None = None
_settings_read_at = 0.0


def index_for(account_id: int | None) -> KnowledgeIndex:
    """The index over the active entries answering for `account_id` (its own and the shared
    ones; None: the environment's single account, shared entries only)."""
    global _version, _checked_at
    with _lock:
        if time.monotonic() - _checked_at >= ENTRIES_FRESH_FOR:
            version = _entries_version()
            if version != _version:
                _indexes.clear()
                _version = version
            _checked_at = time.monotonic()
        if account_id not in _indexes:
            _indexes[account_id] = KnowledgeIndex(load_entries(account_id))
        return _indexes[account_id]


def forget_knowledge(**kwargs) -> None:
    """Entries or settings changed in this process: read them again before the next question
    (a signal receiver)."""
    global _checked_at, _settings
    with _lock:
        _indexes.clear()
        _checked_at = 0.0
        _settings = None


def settings_for(account_id: int | None):
    """The account's KnowledgeSettings, or None: every account's read at most once per
    RULES_FRESH_FOR (as fresh as the rules), not once a DM."""
    global _settings, _settings_read_at
    with _lock:
        if _settings is None or time.monotonic() - _settings_read_at >= matching.RULES_FRESH_FOR:
            from knowledge.models import KnowledgeSettings

            _settings = {row.account_id: row for row in KnowledgeSettings.objects.all()}
            _settings_read_at = time.monotonic()
        return _settings.get(account_id)


def _entries_version() -> tuple:
    # Any save moves updated_at; a deletion changes the count.
    from knowledge.models import KnowledgeEntry

    return tuple(KnowledgeEntry.objects.aggregate(Count("id"), Max("updated_at")).values())


def load_entries(account_id: int | None) -> list[EntrySpec]:
    from django.db.models import Q

    from knowledge.models import KnowledgeEntry

    mine = Q(account__isnull=True) | Q(account_id=account_id) if account_id else Q(account=None)
    return [
        spec_of(entry)
        for entry in KnowledgeEntry.objects.filter(mine, is_active=True).order_by("id")
    ]


def spec_of(entry) -> EntrySpec:
    from knowledge.models import split_questions

    return EntrySpec(
        id=entry.pk,
        title=entry.title,
        questions=tuple(split_questions(entry.questions)),
        answer=entry.answer,
        reply_text=entry.reply_text(),
        link=entry.link,
        account_id=entry.account_id,
    )
