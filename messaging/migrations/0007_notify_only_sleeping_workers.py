"""PostgreSQL: a stored delivery rings only when a worker sleeps on the doorbell (ops.doorbell).

A transaction that NOTIFYs takes one lock of the whole database at its commit and keeps it
until its commit is on disk, so that notifications leave in commit order: with the
notification in every webhook's transaction (0002), the webhooks' commits went one after
another, each waiting for the last one's flush, never together in one (about 250 a second
here, whatever the concurrency). Now the trigger notifies only when a worker has said it
sleeps: a row of its own in `messaging_sleeping_worker` (its listening session's pid). A busy
worker, taking deliveries pass after pass, needs no doorbell and has no row, so the webhooks
commit side by side. The table is UNLOGGED (a hint, not data: writing it waits for no disk;
a crash empties it and the workers' polls take over until they sleep again).

So that no delivery slips between a worker's last look and its row: the trigger holds a
shared advisory lock until the inserting transaction ends; a worker that has written its row
sleeps only once it could take that lock exclusively (tried, never waited for: no insert that
may have read the table before its row was there is still uncommitted), after one more look
(ops.doorbell).
Other databases: no such notification; their workers back off instead.
"""

from django.db import migrations

# The advisory lock's key (two int4): a class of our own, and the doorbell within it.
# ops.doorbell takes the same one.
LOCK_KEY = "27, 1"

CREATE = f"""
CREATE UNLOGGED TABLE messaging_sleeping_worker (pid integer PRIMARY KEY);
CREATE OR REPLACE FUNCTION messaging_delivery_waiting() RETURNS trigger AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared({LOCK_KEY});
    IF EXISTS (SELECT 1 FROM messaging_sleeping_worker) THEN
        PERFORM pg_notify('instabot_deliveries', '');
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
"""

# 0002's function, as it was.
DROP = """
CREATE OR REPLACE FUNCTION messaging_delivery_waiting() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('instabot_deliveries', '');
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
DROP TABLE IF EXISTS messaging_sleeping_worker;
"""


def on_postgresql(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("messaging", "0006_conversation_activity_order")]

    operations = [migrations.RunPython(on_postgresql(CREATE), on_postgresql(DROP))]
