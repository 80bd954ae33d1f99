"""The fake Graph API's Conversations API answers for every account it knows, as Meta answers
for every account connected to the app, each at its own pace: the benchmark's four accounts
reconcile without a refusal, each seeing only its own threads."""

import pytest
import requests

from devtools.fake_graph import FakeGraphAPI

MAIN, OTHER, UNKNOWN = "17841400000000001", "17841400000000002", "17841400000000009"


@pytest.fixture(scope="module")
def fake():
    fake = FakeGraphAPI(account_id=MAIN, account_ids=(MAIN, OTHER)).start()
    fake.inbox.rate_per_second = 0  # this test's calls come back to back
    fake.inbox.add("1234567890123456", "Hi")
    yield fake
    fake.stop()


def conversations(fake, account_id: str) -> requests.Response:
    return requests.get(
        f"{fake.base_url}/v23.0/{account_id}/conversations",
        params={"platform": "instagram"},
        headers={"Authorization": "Bearer EAAG-token"},
        timeout=5,
    )


def test_every_known_account_gets_its_own_threads(fake):
    main, other = conversations(fake, MAIN), conversations(fake, OTHER)
    assert main.status_code == other.status_code == 200
    assert len(main.json()["data"]) == 1
    assert other.json()["data"] == []  # the thread is the main account's


def test_an_account_the_fake_does_not_know_is_refused_as_meta_refuses_it(fake):
    answer = conversations(fake, UNKNOWN)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == 100


def test_each_account_has_its_own_pace():
    fake = FakeGraphAPI(account_id=MAIN, account_ids=(MAIN, OTHER)).start()
    try:
        fake.inbox.rate_per_second = 2
        assert [conversations(fake, MAIN).status_code for _ in range(3)] == [200, 200, 400]
        assert conversations(fake, OTHER).status_code == 200  # not held to the main one's pace
        assert conversations(fake, MAIN).json()["error"]["code"] == 613
    finally:
        fake.stop()
