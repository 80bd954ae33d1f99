"""What staff do to one conversation from the inbox, besides answering: assign, resolve,
reopen, pause and resume the bot, add a note, edit the contact's tags and fields, judge an
answer from knowledge. Pausing and resuming are messaging.replies' own verbs, as in the admin
and the API."""

import logging

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError

from contacts import cards
from inbox.models import Note
from inbox.threads import assignable_users
from instabot.admin_forms import AsciiIntegerField
from instabot.text_limits import NOTE_MAX_LENGTH
from knowledge import judging
from messaging import replies
from messaging.models import Conversation

logger = logging.getLogger(__name__)

NAMES = ("assign", "resolve", "reopen", "pause", "resume", "note", "contact", "judge")


class AssignForm(forms.Form):
    user = AsciiIntegerField(required=False, min_value=1)  # empty: nobody


class NoteForm(forms.Form):
    text = forms.CharField(strip=True, max_length=NOTE_MAX_LENGTH)


class Refused(ValueError):
    """The command cannot be carried out as asked; nothing was changed."""


def run(conversation: Conversation, name: str, data, user) -> None:
    """Carry out command `name` with the request's `data`, or raise Refused."""
    if name == "assign":
        form = AssignForm(data)
        if not form.is_valid():
            raise Refused("user must be a staff user's id")
        assignee = None
        if (user_id := form.cleaned_data["user"]) is not None:
            assignee = assignable_users(conversation).filter(pk=user_id).first()
            if assignee is None:
                raise Refused("No such staff user for this account.")
        conversation.assign(assignee)
    elif name == "resolve":
        conversation.resolve()
    elif name == "reopen":
        conversation.set_status(Conversation.Status.ACTIVE)
    elif name == "pause":
        replies.pause_bot(conversation)
    elif name == "resume":
        replies.resume_bot(conversation)
    elif name == "note":
        form = NoteForm(data)
        if not form.is_valid():
            # An empty box asks for text; anything else is told what is wrong (the cap, a NUL).
            typed = form.data.get("text", "").strip()
            raise Refused(form.errors["text"][0] if typed else "Write the note first.")
        Note.objects.create(conversation=conversation, author=user, text=form.cleaned_data["text"])
    elif name == "contact":
        if not user.has_perm("contacts.change_contact"):
            raise PermissionDenied("You need the contacts.change_contact permission.")
        try:
            cards.edit_contact(conversation, data)
        except ValidationError as exc:
            raise Refused(cards.problems_in_words(exc)) from None
    elif name == "judge":
        try:
            judging.judge(conversation, data.get("answer"), data.get("verdict", ""), user)
        except judging.NotJudged as exc:
            raise Refused(str(exc)) from None
    else:
        raise Refused(f"Unknown command {name!r}.")
    logger.info("%s: %s in conversation %s", user, name, conversation.pk)
