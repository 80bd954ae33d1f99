"""Which due rows a round of the sender takes: the oldest first, never more in an hour than an
account's hourly limit allows, and never more than SENDS_PER_ACCOUNT of one account in one
round, so that one busy account cannot fill the round (and the sender's threads) while the
others wait. Each claim is a conditional UPDATE (OutboxRow.claim): a row is taken once."""

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connections, router, transaction
from django.db.models import IntegerField, Min, Value

from messaging.models import HourlyQuota, WaitingFor
from messaging.outbox.kinds import QUOTA_WINDOW, OutboxKind, registered
from messaging.worker_identity import this_worker

# Accounts one pass looks at per kind under an hourly limit, at most.
ACCOUNTS_PER_PASS = 20
# Rows of one account a round claims, at most (over every kind). The account's sends are paced
# at SEND_RATE_PER_SECOND (Meta's 100 a second): the sender's threads wait for their slots,
# and this many of one account keep at least a few threads for the others in every round.
SENDS_PER_ACCOUNT = 4
# How many of the oldest due rows a round looks at to find SENDS_PER_ACCOUNT of each account,
# as a multiple of the round's size.
PICK_WINDOW = 4
# How a row's last_error starts while it waits for credentials that cannot be opened (history
# imports word their wait the same way).
WAITING_FOR_CREDENTIALS = "waiting for credentials"


def kinds_with_rows_due(now: datetime) -> list[OutboxKind]:
    """The kinds with a row due, in the order registered: one statement over every kind's
    table (a UNION of one MIN each), since every pass of the worker asks, and a query per
    table cost an idle pass more than a DM's own work on PostgreSQL."""
    kinds = tuple(registered())
    if not kinds:
        return []
    look = _compiled_look(kinds, router.db_for_read(kinds[0].model))
    connection = connections[look.alias]
    with connection.cursor() as cursor:
        cursor.execute(look.sql, look.params_at(now, connection))
        names = [column[0].lower() for column in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    due = {int(row["kind_index"]) for row in rows if row["first_due"] is not None}
    return [kind for index, kind in enumerate(kinds) if index in due]


@dataclass(frozen=True)
class _CompiledLook:
    """The look's statement as the ORM compiled it for one database, and where the moment
    goes among its parameters (once in each kind's part)."""

    kinds: tuple[OutboxKind, ...]
    alias: str
    sql: str
    params: tuple
    moment_at: tuple[int, ...]

    def params_at(self, now: datetime, connection) -> list:
        moment = _moment(self.kinds, now, connection)
        params = list(self.params)
        for position in self.moment_at:
            params[position] = moment
        return params


# The look, compiled once per database alias for the kinds registered (they do not change
# once the apps are ready; a test registering another kind compiles it again). The ORM built
# and compiled its UNION at every look, about 2 ms, for a statement the database runs in
# microseconds. A kind's rows() is a fixed filter: what is due by the moment is due(now)'s.
_compiled_looks: dict[str, _CompiledLook] = {}
# The moment the look is compiled with: each look puts its own where this one is.
_COMPILED_AT = datetime(2000, 1, 1, tzinfo=UTC)


def _compiled_look(kinds: tuple[OutboxKind, ...], alias: str) -> _CompiledLook:
    look = _compiled_looks.get(alias)
    if look is not None and len(look.kinds) == len(kinds):
        if all(mine is theirs for mine, theirs in zip(look.kinds, kinds, strict=True)):
            return look
    parts = [
        kind.rows()
        .using(alias)
        .due(_COMPILED_AT)
        .order_by()
        .values(kind_index=Value(index, output_field=IntegerField()))
        .annotate(first_due=Min("due_at"))
        for index, kind in enumerate(kinds)
    ]
    rows = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
    # The ORM's own statement and parameters for this database (as evaluating `rows` would
    # run them), kept.
    sql, params = rows.query.get_compiler(using=alias).as_sql()
    compiled_at = _moment(kinds, _COMPILED_AT, connections[alias])
    moment_at = tuple(index for index, param in enumerate(params) if param == compiled_at)
    if len(moment_at) != len(kinds):
        raise ValueError(f"the outbox's look has {len(moment_at)} moments for {len(kinds)} kinds")
    look = _CompiledLook(kinds, alias, sql, tuple(params), moment_at)
    _compiled_looks[alias] = look
    return look


def _moment(kinds: tuple[OutboxKind, ...], now: datetime, connection):
    """`now` as the database takes it in a comparison with due_at (the ORM's own conversion)."""
    return kinds[0].model._meta.get_field("due_at").get_db_prep_value(now, connection)


def claim_round(kinds: list[OutboxKind], limit: int, now: datetime, taken: Counter) -> list:
    """Claim up to `limit` due rows of `kinds`, in the order registered; `taken` counts the
    rows claimed per account this round (updated). Returns (kind, pk) pairs in queue order."""
    claimed = []
    accounts = _accounts_with_rows_due(kinds, now)
    for kind in kinds:
        if len(claimed) >= limit:
            break
        pks = _claim_due(kind, limit - len(claimed), now, accounts.get(kind.name, []), taken)
        claimed += [(kind, pk) for pk in pks]
    return claimed


def _accounts_with_rows_due(kinds: list[OutboxKind], now: datetime) -> dict[str, list[str]]:
    """For each kind under an hourly limit, the accounts with rows due (some of them): one
    query per table, however many kinds share it."""
    tables = defaultdict(list)
    for kind in kinds:
        if kind.hourly_limit is not None:
            tables[kind.model, kind.account_id_field, kind.discriminator is not None].append(kind)
    accounts = defaultdict(list)
    for (model, account_field, shared), sharing in tables.items():
        if not shared:
            for kind in sharing:
                rows = kind.rows().due(now).order_by()
                ids = rows.values_list(account_field, flat=True).distinct()
                accounts[kind.name] = list(ids[:ACCOUNTS_PER_PASS])
            continue
        field = sharing[0].discriminator[0]
        named = {kind.discriminator[1]: kind.name for kind in sharing}
        due = model.objects.due(now).order_by().filter(**{f"{field}__in": list(named)})
        pairs = due.values_list(account_field, field)
        for account_id, value in pairs.distinct()[: ACCOUNTS_PER_PASS * len(sharing)]:
            accounts[named[value]].append(account_id)
    return accounts


def _claim_due(
    kind: OutboxKind, batch: int, now: datetime, accounts: list[str], taken: Counter
) -> list[int]:
    if kind.hourly_limit is None:
        due = kind.rows().due(now).order_by(*kind.queue_order)
        picked = []
        # The oldest first, at most SENDS_PER_ACCOUNT of each account (counting this round's
        # rows of other kinds): one query, its rows' accounts read with them.
        for pk, account_id in due.values_list("pk", kind.account_id_field)[: batch * PICK_WINDOW]:
            if taken[account_id] < SENDS_PER_ACCOUNT:
                taken[account_id] += 1
                picked.append((pk, account_id))
                if len(picked) >= batch:
                    break
        claimed = kind.model.claim([pk for pk, _ in picked], this_worker(), now)
        for pk, account_id in picked:
            if pk not in claimed:
                taken[account_id] -= 1  # another worker has it
        return _in_order([pk for pk, _ in picked], claimed)
    claimed: list[int] = []
    for account_id in accounts[:ACCOUNTS_PER_PASS]:
        room = min(batch - len(claimed), SENDS_PER_ACCOUNT - taken[account_id])
        if room <= 0:
            continue
        mine = _claim_within_hour(kind, account_id, room, now)
        taken[account_id] += len(mine)
        claimed += mine
        if len(claimed) >= batch:
            break
    return claimed


def _claim_within_hour(kind: OutboxKind, account_id: str, batch: int, now: datetime) -> list:
    """Claim up to `batch` due rows of one account, oldest first, never more claims in any
    hour than its limit allows (counted over every kind sharing the limit), under the
    account's quota row lock: workers claiming at once cannot exceed it together. Over the
    limit, the rest wait until the hour frees a slot."""
    limit = kind.hourly_limit
    sharing = [other for other in registered() if other.hourly_limit == limit]
    HourlyQuota.ensure(account_id, limit.name)
    with transaction.atomic():
        HourlyQuota.lock(account_id, limit.name)

        def this_hour():
            return [_counted(other, account_id, now - QUOTA_WINDOW) for other in sharing]

        used = sum(claims.count() for claims in this_hour())
        due = (
            kind.rows()
            .due(now)
            .filter(**{kind.account_id_field: account_id})
            .order_by(*kind.queue_order)
        )
        exempt = kind.exempt_from_hour
        picked = list(due.filter(exempt).values_list("pk", flat=True)[:batch]) if exempt else []
        limited = due.exclude(exempt) if exempt else due
        room = min(batch - len(picked), limit.per_hour() - used)
        if room > 0:
            picked += list(limited.values_list("pk", flat=True)[:room])
        claimed = _in_order(picked, kind.model.claim(picked, this_worker(), now))
        claims = this_hour()
        if sum(each.count() for each in claims) >= limit.per_hour():
            oldest = min(
                (each.aggregate(Min("claimed_at"))["claimed_at__min"] or now for each in claims),
                default=now,
            )
            kind.waiting(limited)
            limited.update(due_at=oldest + QUOTA_WINDOW, waiting_for=WaitingFor.HOURLY_LIMIT)
    return claimed


def _counted(kind: OutboxKind, account_id: str, since: datetime):
    rows = kind.rows().filter(**{kind.account_id_field: account_id}, claimed_at__gt=since)
    return rows.exclude(kind.exempt_from_hour) if kind.exempt_from_hour else rows


def _in_order(picked: list[int], claimed: list[int]) -> list[int]:
    mine = set(claimed)
    return [pk for pk in picked if pk in mine]
