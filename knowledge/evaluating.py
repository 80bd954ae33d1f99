"""Measuring answers from knowledge on a set of questions, each with the entry that answers it
or none: what `eval_knowledge` prints, and how the threshold is chosen."""

import csv
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from knowledge.index import Match


@dataclass(frozen=True)
class Question:
    text: str
    expected: str  # the title of the entry that answers it; "": none does
    language: str = ""


@dataclass(frozen=True)
class Outcome:
    question: Question
    match: Match | None  # the entry that would answer; None: handed to a person
    best: Match | None  # the best entry found, answering or not
    ms: float

    @property
    def answered(self) -> str:
        return self.match.entry.title if self.match else ""

    @property
    def verdict(self) -> str:
        """right, wrong (an answer, not the expected one) or handoff (no answer)."""
        if self.match is None:
            return "right" if not self.question.expected else "handoff"
        return "right" if self.answered == self.question.expected else "wrong"


@dataclass(frozen=True)
class Totals:
    questions: int
    answerable: int
    hits: int  # answerable questions answered with their entry
    wrong: int  # answers with another entry, or to a question none answers
    handed_off: int  # answerable questions handed to a person
    ms_per_question: float

    @property
    def hit_rate(self) -> float:
        return self.hits / self.answerable if self.answerable else 0.0

    @property
    def wrong_rate(self) -> float:
        """Of the answers sent, the share that were wrong."""
        sent = self.hits + self.wrong
        return self.wrong / sent if sent else 0.0


def read_questions(lines: Iterable[str]) -> list[Question]:
    """A CSV with the columns question, expected (an entry's title, or empty) and, optionally,
    language."""
    reader = csv.DictReader(lines)
    if not reader.fieldnames or "question" not in reader.fieldnames:
        raise ValueError("The questions file needs a header with question and expected columns.")
    return [
        Question(
            row["question"].strip(), (row.get("expected") or "").strip(), row.get("language") or ""
        )
        for row in reader
        if (row.get("question") or "").strip()
    ]


def evaluate(
    questions: Iterable[Question],
    search: Callable[[str], list[Match]],
    min_confidence: float,
) -> list[Outcome]:
    outcomes = []
    for question in questions:
        started = time.perf_counter()
        matches = search(question.text)
        ms = (time.perf_counter() - started) * 1000
        best = matches[0] if matches else None
        answering = best if best and best.confidence >= min_confidence else None
        outcomes.append(Outcome(question, answering, best, ms))
    return outcomes


def totals(outcomes: list[Outcome]) -> Totals:
    answerable = [o for o in outcomes if o.question.expected]
    return Totals(
        questions=len(outcomes),
        answerable=len(answerable),
        hits=sum(1 for o in answerable if o.verdict == "right"),
        wrong=sum(1 for o in outcomes if o.verdict == "wrong"),
        handed_off=sum(1 for o in answerable if o.verdict == "handoff"),
        ms_per_question=sum(o.ms for o in outcomes) / len(outcomes) if outcomes else 0.0,
    )
