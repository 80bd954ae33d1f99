"""PostgreSQL: a stored delivery wakes the idle workers (LISTEN/NOTIFY, ops.doorbell).

A trigger rather than a NOTIFY from the webhook's code: the insert stays one statement, one
round trip, and whatever inserts a delivery announces it. Other databases have no such
notification: their workers back off instead.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION messaging_delivery_waiting() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('instabot_deliveries', '');
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER messaging_webhookdelivery_waiting
    AFTER INSERT ON messaging_webhookdelivery
    FOR EACH STATEMENT EXECUTE PROCEDURE messaging_delivery_waiting();
"""

DROP = """
DROP TRIGGER IF EXISTS messaging_webhookdelivery_waiting ON messaging_webhookdelivery;
DROP FUNCTION IF EXISTS messaging_delivery_waiting();
"""


def on_postgresql(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("messaging", "0001_initial")]

    operations = [migrations.RunPython(on_postgresql(CREATE), on_postgresql(DROP))]
