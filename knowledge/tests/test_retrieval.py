"""The built-in retrieval: BM25 per account, a confidence between 0 and 1, rebuilt on change."""

import pytest

from knowledge.index import EntrySpec, KnowledgeIndex, index_for, tokens
from knowledge.models import KnowledgeEntry


def spec(id, title, questions, answer="", account_id=None):
    return EntrySpec(id, title, tuple(questions), answer, answer, account_id=account_id)


HOURS = spec(1, "Opening hours", ["When are you open?", "¿A qué hora abren?"], "10 to 19")
RETURNS = spec(2, "Returns", ["Can I return an item?", "devoluciones"], "Within 30 days")
SHIPPING = spec(3, "Shipping cost", ["How much is shipping?", "¿Cuánto cuesta el envío?"], "5 €")


def test_words_are_folded_stemmed_and_stopwords_dropped():
    assert tokens("¿Cuánto CUESTA el ENVÍO?") == tokens("cuanto cuesta envio")
    assert "the" not in tokens("the shipping")
    assert tokens("devoluciones")[0] == tokens("devolver")[0]


def test_a_paraphrase_finds_its_entry_confidently():
    index = KnowledgeIndex([HOURS, RETURNS, SHIPPING])
    best = index.search("a que hora abren mañana?")[0]
    assert best.entry == HOURS
    assert best.confidence >= 0.65


def test_a_question_about_something_else_is_not_confident():
    index = KnowledgeIndex([HOURS, RETURNS, SHIPPING])
    matches = index.search("do you sell shoes?")
    assert not matches or matches[0].confidence < 0.65


@pytest.mark.parametrize("text", ["", "   ", "!!!", "the a an", "\x00", "🙂" * 1000])
def test_nothing_to_search_finds_nothing(text):
    assert KnowledgeIndex([HOURS]).search(text) == []


def test_an_empty_knowledge_finds_nothing():
    assert KnowledgeIndex([]).search("when are you open") == []


def test_huge_input_is_searched():
    index = KnowledgeIndex([HOURS, RETURNS, SHIPPING])
    assert index.search("open " * 20_000)[0].entry == HOURS


@pytest.mark.django_db
def test_an_accounts_index_holds_its_entries_and_the_shared_ones_only(shop_a, shop_b):
    mine = KnowledgeEntry.objects.create(
        account=shop_a, title="Hours", questions="when do you open", answer="9-5"
    )
    KnowledgeEntry.objects.create(
        account=shop_b, title="B hours", questions="when do you open", answer="B: 8-4"
    )
    shared = KnowledgeEntry.objects.create(
        title="Returns", questions="can I return it", answer="30 days"
    )
    KnowledgeEntry.objects.create(
        account=shop_a, title="Old", questions="when do you open", answer="x", is_active=False
    )
    assert {e.id for e in index_for(shop_a.pk).entries} == {mine.pk, shared.pk}
    assert {e.id for e in index_for(None).entries} == {shared.pk}


@pytest.mark.django_db
def test_the_index_is_rebuilt_when_entries_change(shop_a):
    entry = KnowledgeEntry.objects.create(
        account=shop_a, title="Hours", questions="when do you open", answer="9-5"
    )
    assert index_for(shop_a.pk).search("when do you open")[0].entry.answer == "9-5"
    entry.answer = "10-6"
    entry.save()
    assert index_for(shop_a.pk).search("when do you open")[0].entry.answer == "10-6"
    entry.delete()
    assert index_for(shop_a.pk).search("when do you open") == []
