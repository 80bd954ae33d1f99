"""`manage.py import_history --account <id> [--since 30d]`: import an account's recent
conversations through the Conversations API, in the foreground, with a progress bar (on a
terminal; elsewhere a line per conversation)."""

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q
from django.utils import timezone

from accounts.models import InstagramBusinessAccount
from history.importing import run_import
from history.models import HistoryImport
from messaging.management.durations import age


class Command(BaseCommand):
    help = (
        "Import an account's recent Instagram conversations and their messages (incoming and "
        "outgoing) through Meta's Conversations API. Nothing imported is answered; messages "
        "already stored are skipped, and an interrupted import continues where it stopped."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--account",
            required=True,
            help="the account: its id here, or its Instagram id",
        )
        parser.add_argument(
            "--since",
            type=age,
            metavar="AGE",
            help="only conversations active within this age (30d, 12h, 2w); default: all "
            "Meta returns",
        )

    def handle(self, *, account, since, **options):
        by_pk = account.isascii() and account.isdigit() and len(account) < 19  # a 64-bit id
        by_id = Q(instagram_id=account) | (Q(pk=int(account)) if by_pk else Q())
        found = InstagramBusinessAccount.objects.filter(by_id).first()
        if found is None:
            raise CommandError(f"No account {account!r} (give its id or its Instagram id).")
        history_import = HistoryImport.request(found, timezone.now() - since if since else None)
        if history_import.cursor:
            self.stdout.write(f"Continuing the import of {found} from where it stopped.")
        interactive = self.stdout.isatty()

        def show(progress: HistoryImport) -> None:
            if interactive:  # one line, redrawn: the bar, then the counts
                self.stdout.write(
                    f"{progress_bar(progress)} · {_progress_line(progress)}", ending="\r"
                )
            else:  # a log: a line per conversation
                self.stdout.write(_progress_line(progress))
            self.stdout.flush()

        done = run_import(history_import.pk, progress=show, wait_in_process=True)
        if done is None:
            raise CommandError(
                f"The import of {found} is running in a worker now: its progress is in the "
                "admin (History imports)."
            )
        if interactive:
            self.stdout.write("")
        if done.state == HistoryImport.State.FAILED:
            raise CommandError(f"The import of {found} failed: {done.error}")
        self.stdout.write(self.style.SUCCESS(f"Imported {found}: {_progress_line(done)}"))


# Meta lists conversations 25 a page (meta.conversations) and never says how many there are:
# the bar fills over the page in hand.
PAGE = 25
BAR = 20


def progress_bar(progress: HistoryImport) -> str:
    """`page 2 [########------------] 10/25`: how far the import is in the page in hand."""
    page = (progress.conversations_done - progress.done_in_page) // PAGE + 1
    done = min(progress.done_in_page, PAGE)
    filled = round(BAR * done / PAGE)
    return f"page {page} [{'#' * filled}{'-' * (BAR - filled)}] {done}/{PAGE}"


def _progress_line(progress: HistoryImport) -> str:
    return (
        f"{progress.conversations_done} conversations · {progress.messages_imported} messages "
        f"imported · {progress.messages_known} already stored · {progress.api_calls} API calls"
    )
