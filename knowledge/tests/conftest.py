import csv
from pathlib import Path

import pytest

from inbox.tests.conftest import (  # noqa: F401  (fixtures)
    SHOP_A_ID,
    deliver,
    dm,
    limited_user,
    make_account,
    run_worker,
    shop_a,
    shop_b,
    staff,
)
from inbox.tests.test_inbox_browser import browser  # noqa: F401  (fixture)
from knowledge.models import KnowledgeEntry, KnowledgeSettings
from messaging.tests.test_end_to_end import fake_graph  # noqa: F401  (echoes to the live server)

EVALUATION = Path(__file__).resolve().parents[1] / "evaluation"


def load_shop_knowledge(account=None) -> dict[str, KnowledgeEntry]:
    """The evaluation set's knowledge base (a clothes shop), stored for `account`."""
    with open(EVALUATION / "shop_knowledge.csv", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    return {
        row["title"]: KnowledgeEntry.objects.create(
            account=account,
            title=row["title"],
            questions=row["questions"],
            answer=row["answer"],
            link=row["link"],
        )
        for row in rows
    }


@pytest.fixture
def knowledge_staff(limited_user):  # noqa: F811
    """Staff limited to shop A, who may edit knowledge."""
    from django.contrib.auth.models import Permission

    limited_user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="knowledge")
    )
    return limited_user


@pytest.fixture
def shop_knowledge(shop_a):  # noqa: F811
    return load_shop_knowledge(shop_a)


@pytest.fixture
def knowledge_on(shop_a):  # noqa: F811
    return KnowledgeSettings.objects.create(account=shop_a, mode=KnowledgeSettings.Mode.FAQ)
