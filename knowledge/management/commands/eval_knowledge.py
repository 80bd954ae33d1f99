"""`manage.py eval_knowledge questions.csv [--account ID | --knowledge entries.csv]`: what the
built-in knowledge would answer to each question, and how often rightly."""

from collections import defaultdict
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.models import InstagramBusinessAccount
from knowledge.evaluating import Outcome, evaluate, read_questions, totals
from knowledge.index import KnowledgeIndex, index_for, spec_of
from knowledge.models import KnowledgeSettings
from knowledge.transfer import ImportRefused, entries_from_csv


class Command(BaseCommand):
    help = (
        "For each question of a CSV (columns question, expected: the title of the entry that "
        "answers it, or empty when none does; optionally language), the entry and answer the "
        "built-in knowledge would send, or the hand-off to a person; then the hit rate and the "
        "wrong-answer rate. Sends nothing, stores nothing, calls no AI service."
    )

    def add_arguments(self, parser):
        parser.add_argument("questions", help="The questions CSV file.")
        source = parser.add_mutually_exclusive_group()
        source.add_argument(
            "--account", help="An account's id: its entries and the shared ones (default: shared)."
        )
        source.add_argument(
            "--knowledge", help="A knowledge CSV (as exported) to measure before importing it."
        )
        parser.add_argument(
            "--min-confidence",
            type=float,
            help="The threshold to try (default: the account's, else the default).",
        )
        parser.add_argument("--quiet", action="store_true", help="Totals only.")

    def handle(self, questions, account=None, knowledge=None, min_confidence=None, **options):
        try:
            with open(questions, encoding="utf-8-sig") as file:
                asked = read_questions(file)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise CommandError(f"Cannot read {questions}: {exc}") from None
        if knowledge:
            try:
                entries = entries_from_csv(Path(knowledge).read_text(encoding="utf-8-sig"))
            except (OSError, UnicodeDecodeError) as exc:
                raise CommandError(f"Cannot read {knowledge}: {exc}") from None
            except ImportRefused as refused:
                raise CommandError("; ".join(refused.problems)) from None
            index, stored = KnowledgeIndex(spec_of(entry) for entry in entries), None
        else:
            stored = self._account(account)
            index = index_for(stored.pk if stored else None)
        threshold = min_confidence
        if threshold is None:
            # A file's knowledge belongs to no account yet: the default threshold.
            settings = (
                None if knowledge else KnowledgeSettings.objects.filter(account=stored).first()
            )
            field = KnowledgeSettings._meta.get_field("min_confidence")
            threshold = settings.min_confidence if settings else field.default
        if not 0 <= threshold <= 1:
            raise CommandError("--min-confidence is between 0 and 1.")

        titles = {entry.title for entry in index.entries}
        if unknown := sorted({q.expected for q in asked if q.expected} - titles):
            self.stderr.write(f"Expected entries not in the knowledge: {', '.join(unknown)}")
        outcomes = evaluate(asked, index.search, threshold)
        if not options["quiet"]:
            for outcome in outcomes:
                self.stdout.write(self._line(outcome))
        self._totals(outcomes, threshold, len(index))

    def _account(self, account_id):
        if account_id is None:
            return None
        if not (account_id.isascii() and account_id.isdigit()):
            raise CommandError(f"--account takes an account's id, not {account_id[:40]!r}.")
        account = InstagramBusinessAccount.objects.filter(pk=int(account_id)).first()
        if account is None:
            raise CommandError(f"No account {account_id}.")
        return account

    def _line(self, outcome: Outcome) -> str:
        mark = {"right": "ok   ", "wrong": "WRONG", "handoff": "miss "}[outcome.verdict]
        question = outcome.question.text[:80]
        if outcome.match is None:
            best = outcome.best
            near = f" (best: {best.entry.title}, {best.confidence:.0%})" if best else ""
            return f"{mark} {question}\n        → a person{near}"
        answer = outcome.match.entry.reply_text.replace("\n", " ")[:100]
        return (
            f"{mark} {question}\n        → {outcome.match.entry.title} "
            f"({outcome.match.confidence:.0%}): {answer}"
        )

    def _totals(self, outcomes: list[Outcome], threshold: float, entries: int) -> None:
        every = totals(outcomes)
        self.stdout.write(
            f"\n{every.questions} questions ({every.answerable} answerable) over {entries} "
            f"entries, threshold {threshold:.2f}:\n"
            f"  hit rate   {every.hit_rate:.1%} ({every.hits} answered with their entry)\n"
            f"  wrong rate {every.wrong_rate:.1%} ({every.wrong} of the "
            f"{every.hits + every.wrong} answers sent)\n"
            f"  handed off {every.handed_off} answerable questions\n"
            f"  {every.ms_per_question:.2f} ms per question"
        )
        by_language = defaultdict(list)
        for outcome in outcomes:
            by_language[outcome.question.language].append(outcome)
        if len(by_language) > 1:
            for language, some in sorted(by_language.items()):
                part = totals(some)
                self.stdout.write(
                    f"  {language or '?':>3}: hit {part.hit_rate:.0%}, wrong {part.wrong_rate:.0%}"
                    f" ({part.questions} questions)"
                )
