"""Production safety: check --deploy, admin brute force, API throttling."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

BASE_DIR = Path(__file__).resolve().parents[2]

# The production settings the README documents.
PRODUCTION = {
    "DEBUG": "off",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "FACEBOOK_APP_SECRET": "app-secret",
    "FIELD_ENCRYPTION_KEY": "ZGV2ZWxvcG1lbnQtb25seS1rZXktMzItYnl0ZXMhISE=",
    "ALLOWED_HOSTS": "bot.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://bot.example.com",
    "BEHIND_HTTPS_PROXY": "on",
    "SECURE_HSTS_PRELOAD": "on",
}


@pytest.mark.slow  # starts manage.py check --deploy (CI runs it)
def test_check_deploy_is_clean_with_the_documented_production_settings():
    env = {"PATH": os.environ["PATH"], "ENV_FILE": os.devnull, **PRODUCTION}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues (0 silenced)" in result.stdout


@pytest.mark.django_db
def test_admin_logins_are_locked_after_repeated_failures(client, settings):
    User.objects.create_superuser("alice", "alice@example.com", "correct-horse-battery")
    statuses = [
        client.post("/admin/login/", {"username": "alice", "password": "guess"}).status_code
        for _ in range(settings.AXES_FAILURE_LIMIT)
    ]
    # The form again, with its error, until the limit: that failure locks the pair out.
    assert statuses == [200] * (settings.AXES_FAILURE_LIMIT - 1) + [429]
    # Locked: even the right password is refused now.
    response = client.post(
        "/admin/login/?next=/admin/", {"username": "alice", "password": "correct-horse-battery"}
    )
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_a_successful_login_before_the_limit_resets_the_count(client, settings):
    User.objects.create_superuser("alice", "alice@example.com", "correct-horse-battery")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        client.post("/admin/login/", {"username": "alice", "password": "guess"})
    response = client.post(
        "/admin/login/?next=/admin/", {"username": "alice", "password": "correct-horse-battery"}
    )
    assert response.status_code == 302


@pytest.mark.django_db
def test_the_api_is_throttled_per_user(admin_user, monkeypatch):
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"user": "3/minute"})
    cache.clear()
    client = APIClient()
    client.force_authenticate(admin_user)
    statuses = [client.get("/api/rules/").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    cache.clear()
