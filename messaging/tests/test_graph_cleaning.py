"""meta.cleaning: what every Graph API answer goes through, as webhook deliveries do."""

from meta.cleaning import clean_answer, clean_id, clean_text


def test_texts_lose_nuls_and_lone_surrogates_become_replacement_characters():
    assert clean_text("a\x00b\ud800c\U0001f600") == "ab\ufffdc\U0001f600"


def test_ids_keep_them_apart_as_their_escapes():
    assert clean_id("17\ud800") == "17\\ud800"
    assert clean_id("17\x00") == "17\\x00"
    assert clean_id("17\ud800") != clean_id("17\udc00")


def test_an_answer_is_cleaned_throughout_ids_as_ids_and_the_rest_as_text():
    answer = {
        "data": [
            {
                "id": "m\ud800",
                "message": "hi\x00\udfff",
                "from": {"id": "1\x00", "username": "fan\ud800"},
                "to": {"data": [{"id": "2\udc00"}]},
                "attachments": {"data": [{"image_data": {"url": "https://x/\x00"}}]},
            }
        ],
        "paging": {"cursors": {"after": "QVFI"}},
        "key\ud800": 5,
        "recipient_id": "3\ud800",
    }
    assert clean_answer(answer) == {
        "data": [
            {
                "id": "m\\ud800",
                "message": "hi\ufffd",
                "from": {"id": "1\\x00", "username": "fan\ufffd"},
                "to": {"data": [{"id": "2\\udc00"}]},
                "attachments": {"data": [{"image_data": {"url": "https://x/"}}]},
            }
        ],
        "paging": {"cursors": {"after": "QVFI"}},
        "key\ufffd": 5,
        "recipient_id": "3\\ud800",
    }


def test_a_deeply_nested_answer_is_cleaned_without_recursion():
    deep = current = {}
    for _ in range(5000):
        current["a"] = {}
        current = current["a"]
    current["text"] = "x\x00"
    cleaned = clean_answer(deep)
    for _ in range(5000):
        cleaned = cleaned["a"]
    assert cleaned == {"text": "x"}
