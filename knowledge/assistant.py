"""The assistant: one call to an OpenAI-compatible chat endpoint (OpenAI, Ollama, vLLM,
llama.cpp's server) writing a short answer from the entries it is given, and nothing else.

One door, as meta/ is for the Graph API: `compose` never raises for what the service does (slow,
down, refusing, answering garbage); it says what went wrong in `problem`, and the caller sends
the built-in answer or the fallback instead. The whole call, reading the answer included, ends
by `timeout`.
"""

import json
import logging
import re
import time
from dataclasses import dataclass

import requests

from knowledge.index import Match

logger = logging.getLogger(__name__)

# The assistant's word for "the entries do not answer this".
CANNOT_ANSWER = "CANNOT_ANSWER"
# A short DM: one Instagram message (1000 bytes) is some 250 tokens of text.
MAX_ANSWER_TOKENS = 300
# A DM is at most 1000 bytes; a longer stored text is cut for the prompt.
MAX_QUESTION_CHARACTERS = 2_000
# An answer of a chat endpoint is a few kilobytes; more is no answer.
MAX_RESPONSE_BYTES = 256_000
_SOURCES = re.compile(r"^\s*SOURCES?\s*:\s*(.*)$", re.IGNORECASE | re.MULTILINE)

SYSTEM_PROMPT = "\n".join(
    [
        "You answer customers of {business} in Instagram direct messages.",
        "Answer ONLY from the knowledge entries below; never add a fact, a link, a price, a "
        "phone number or an email address that is not in them.",
        "Answer in the language of the customer's last message, in at most three short "
        "sentences, plainly, without markdown.",
        "If the entries do not answer the question, reply with exactly {cannot} and nothing else.",
        "After the answer, on a line of its own, write SOURCES: and the numbers of the entries "
        "you used, such as SOURCES: 2.",
        "",
        "Knowledge entries:",
        "{entries}",
    ]
)


@dataclass(frozen=True)
class Composed:
    """The assistant's answer, or why there is none to send."""

    text: str = ""  # the answer; "" with `problem`, or when it cannot answer
    cannot_answer: bool = False  # it said the entries do not answer the question
    used: tuple[Match, ...] = ()  # the entries it says it used
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    elapsed_ms: int = 0
    problem: str = ""  # slow, down, refused, garbage: the built-in answer or the fallback goes


def entries_text(matches: list[Match]) -> str:
    blocks = []
    for number, match in enumerate(matches, start=1):
        entry = match.entry
        lines = [f"[{number}] {entry.title}", f"Questions: {' / '.join(entry.questions)}"]
        lines.append(f"Answer: {entry.answer}")
        if entry.link:
            lines.append(f"Link: {entry.link}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def chat_messages(
    question: str, history: list[tuple[str, str]], matches: list[Match], business: str
) -> list[dict]:
    """The request's messages: the rules and the entries, the conversation so far (oldest
    first, as (role, text) with role "user" or "assistant"), then the question."""
    system = SYSTEM_PROMPT.format(
        business=business or "the business", cannot=CANNOT_ANSWER, entries=entries_text(matches)
    )
    return [
        {"role": "system", "content": system},
        *({"role": role, "content": text} for role, text in history if text.strip()),
        {"role": "user", "content": question[:MAX_QUESTION_CHARACTERS]},
    ]


def compose(
    question: str,
    history: list[tuple[str, str]],
    matches: list[Match],
    *,
    business: str,
    base_url: str,
    api_key: str,
    model: str,
    timeout: float,
) -> Composed:
    started = time.monotonic()

    def done(**fields) -> Composed:
        elapsed = int((time.monotonic() - started) * 1000)
        return Composed(model=model, elapsed_ms=elapsed, **fields)

    body = {
        "model": model,
        "messages": chat_messages(question, history, matches, business),
        "temperature": 0,
        "max_tokens": MAX_ANSWER_TOKENS,
    }
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        raw = _post(f"{base_url}/chat/completions", body, headers, started + timeout)
    except _Slow:
        return done(problem=f"the AI service took longer than AI_TIMEOUT ({timeout:g} s)")
    except requests.RequestException as exc:
        return done(problem=f"the AI service is unreachable ({type(exc).__name__})")
    except _Refused as refused:
        return done(problem=str(refused))
    parsed = _parse(raw)
    if isinstance(parsed, str):
        return done(problem=parsed)
    text, prompt_tokens, completion_tokens = parsed
    tokens = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}
    if text.strip().strip(".").upper().startswith(CANNOT_ANSWER):
        return done(cannot_answer=True, used=tuple(matches), **tokens)
    answer, used = _sources(text, matches)
    if not answer:
        return done(problem="the AI service answered nothing", **tokens)
    return done(text=answer, used=used, **tokens)


class _Slow(Exception):
    pass


class _Refused(Exception):
    pass


def _post(url: str, body: dict, headers: dict, deadline: float) -> bytes:
    """The response body, read by `deadline` (requests' timeouts bound each read, not the
    whole call: a server dripping bytes would hold us past it)."""
    left = deadline - time.monotonic()
    try:
        response = requests.post(
            url, json=body, headers=headers, timeout=(min(left, 5.0), left), stream=True
        )
    except (requests.ConnectTimeout, requests.ReadTimeout):
        raise _Slow from None
    with response:
        chunks, size = [], 0
        try:
            for chunk in response.iter_content(chunk_size=8192):
                chunks.append(chunk)
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES:
                    raise _Refused(f"the AI service's answer is over {MAX_RESPONSE_BYTES} bytes")
                if time.monotonic() > deadline:
                    raise _Slow
        except requests.ConnectionError as exc:
            # requests raises ConnectionError for a read that timed out mid-body, too.
            if time.monotonic() >= deadline or "timed out" in str(exc):
                raise _Slow from None
            raise
        if response.status_code != 200:
            raise _Refused(f"the AI service answered HTTP {response.status_code}")
        return b"".join(chunks)


def _parse(raw: bytes) -> tuple[str, int, int] | str:
    """(text, prompt tokens, completion tokens) of a chat completion, or what is wrong."""
    try:
        data = json.loads(raw)
        choice = data["choices"][0]
        text = choice["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError, RecursionError):
        return "the AI service's answer is no chat completion"
    if not isinstance(text, str):
        return "the AI service's answer is no chat completion"
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    return text, _count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens"))


def _count(value) -> int:
    return value if isinstance(value, int) and 0 <= value < 10**9 else 0


def _sources(text: str, matches: list[Match]) -> tuple[str, tuple[Match, ...]]:
    """The answer without its SOURCES line, and the entries that line names (all the given
    entries when it names none it was given)."""
    numbers = set()
    for line in _SOURCES.findall(text):
        numbers.update(int(n) for n in re.findall(r"\d+", line) if len(n) < 4)
    used = tuple(m for number, m in enumerate(matches, start=1) if number in numbers)
    answer = _SOURCES.sub("", text).strip()
    # A lone surrogate or NUL from a broken server is no text to send.
    answer = answer.encode("utf-8", errors="ignore").decode().replace("\x00", "")
    return answer, used or tuple(matches)
