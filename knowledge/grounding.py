"""Nothing outside the knowledge: the links, email addresses, prices and phone numbers an
assistant's answer states must each be in the entries it was given. An answer that states one
that is not is never sent (the conversation goes to a person)."""

import re

from knowledge.index import Match

_LINK = re.compile(r"(?:https?://|www\.)[^\s<>()\"']+", re.IGNORECASE)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# A bare domain ("casalumen.com/sale"): a link to a customer's eye.
_DOMAIN = re.compile(
    r"\b(?:[a-z0-9-]+\.)+(?:com|net|org|shop|store|io|co|app|[a-z]{2})\b(?:/[^\s]*)?",
    re.IGNORECASE,
)
_CURRENCY = r"(?:€|\$|£|¥|₹|R\$|EUR|USD|GBP|BRL|CHF|euros?|dollars?|reais|pounds?)"
_AMOUNT = r"\d+(?:[.,\s]\d{3})*(?:[.,]\d{1,2})?"
_PRICE = re.compile(
    rf"{_CURRENCY}\s?(?P<before>{_AMOUNT})|(?P<after>{_AMOUNT})\s?{_CURRENCY}", re.IGNORECASE
)
_PERCENT = re.compile(rf"(?P<number>{_AMOUNT})\s?%")
# A phone number: seven digits or more, spaced or not.
_PHONE = re.compile(r"\+?\d[\d\s().-]{6,}\d")


def _digits(number: str) -> str:
    """An amount as comparable digits: "4,90", "4.90" and "4.9" alike; "1.000" is 1000."""
    number = re.sub(r"\s", "", number)
    if re.search(r"[.,]\d{1,2}$", number):
        whole, cents = re.split(r"[.,](?=\d{1,2}$)", number)
        whole = re.sub(r"[.,]", "", whole)
        cents = cents.rstrip("0")
        return f"{int(whole)}.{cents}" if cents else str(int(whole))
    return str(int(re.sub(r"[.,]", "", number)))


def _link_key(link: str) -> str:
    link = link.rstrip(".,;:!?").lower()
    return re.sub(r"^(https?://)?(www\.)?", "", link).rstrip("/")


def unsupported_claims(answer: str, matches: list[Match]) -> list[str]:
    """What the answer states that none of the given entries does: links, email addresses,
    prices and percentages, phone numbers."""
    source = "\n".join(
        f"{m.entry.title}\n{m.entry.answer}\n{m.entry.link}\n{' '.join(m.entry.questions)}"
        for m in matches
    )
    found = []
    emails = set(e.lower() for e in _EMAIL.findall(source))
    for email in _EMAIL.findall(answer):
        if email.lower() not in emails:
            found.append(email)
    without_emails = _EMAIL.sub(" ", answer)
    source_links = {_link_key(link) for link in [*_LINK.findall(source), *_DOMAIN.findall(source)]}
    source_links.update(_link_key(e.split("@", 1)[1]) for e in emails)
    for link in [*_LINK.findall(without_emails), *_DOMAIN.findall(_LINK.sub(" ", without_emails))]:
        key = _link_key(link)
        if key and not any(key == known or known.startswith(key + "/") for known in source_links):
            found.append(link)
    source_amounts = {
        _digits(m.group("before") or m.group("after")) for m in _PRICE.finditer(source)
    }
    source_amounts |= {_digits(m.group("number")) for m in _PERCENT.finditer(source)}
    for match in _PRICE.finditer(answer):
        if _digits(match.group("before") or match.group("after")) not in source_amounts:
            found.append(match.group(0))
    for match in _PERCENT.finditer(answer):
        if _digits(match.group("number")) not in source_amounts:
            found.append(match.group(0))
    source_phones = {re.sub(r"\D", "", p) for p in _PHONE.findall(source)}
    for phone in _PHONE.findall(_PRICE.sub(" ", answer)):
        if re.sub(r"\D", "", phone) not in source_phones:
            found.append(phone.strip())
    return found
