"""`manage.py eval_knowledge`: per question the answer or the hand-off, then the totals."""

import io

import pytest
from django.core.management import CommandError, call_command

from knowledge.tests.conftest import EVALUATION

QUESTIONS = str(EVALUATION / "questions.csv")


def run(*args) -> str:
    out = io.StringIO()
    call_command("eval_knowledge", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_the_repositorys_set_is_measured_from_its_knowledge_file_without_a_database():
    printed = run(QUESTIONS, "--knowledge", str(EVALUATION / "shop_knowledge.csv"))
    assert "323 questions (274 answerable) over 21 entries" in printed
    assert "ok    open on sunday??\n        → Opening hours (100%): The shop in Rua" in printed
    assert "→ a person" in printed
    assert "hit rate" in printed and "wrong rate" in printed
    assert "   de: hit" in printed


@pytest.mark.django_db
def test_an_accounts_stored_knowledge_and_threshold(shop_a, shop_knowledge, knowledge_on, tmp_path):
    knowledge_on.min_confidence = 0.99
    knowledge_on.save()
    questions = tmp_path / "q.csv"
    questions.write_text("question,expected\ncan i pay with apple pay?,Payment methods\nhi,\n")
    printed = run(str(questions), "--account", str(shop_a.pk))
    assert "threshold 0.99" in printed
    assert "hit rate   100.0% (1 answered with their entry)" in printed


@pytest.mark.django_db
@pytest.mark.parametrize(
    "args, problem",
    [
        (["missing.csv"], "Cannot read"),
        ([QUESTIONS, "--account", "\u0661"], "--account takes an account's id"),
        ([QUESTIONS, "--account", "999"], "No account 999"),
        ([QUESTIONS, "--min-confidence", "2"], "between 0 and 1"),
    ],
)
def test_bad_arguments_are_said_plainly(args, problem):
    with pytest.raises(CommandError, match=problem):
        run(*args)


def test_a_file_without_the_columns_is_refused(tmp_path):
    bad = tmp_path / "q.csv"
    bad.write_bytes(b"\xff\xfe nonsense")
    with pytest.raises(CommandError, match="Cannot read"):
        run(str(bad))
