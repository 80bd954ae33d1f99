import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_every_model_change_has_a_committed_migration():
    # Exits non-zero (SystemExit) when a model differs from its migrations.
    call_command("makemigrations", check=True, dry_run=True, verbosity=0)
