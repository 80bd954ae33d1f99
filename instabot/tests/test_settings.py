"""Settings refuse to start in production without secrets, loudly."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]


def import_settings(**env):
    # A fresh interpreter with only what the test gives, and no .env file to fall back on.
    names = {"DEBUG", "SECRET_KEY", "FACEBOOK_APP_SECRET"}
    clean = {k: v for k, v in os.environ.items() if k not in names}
    clean.update(env, ENV_FILE=os.devnull)
    return subprocess.run(
        [sys.executable, "-c", "import instabot.settings as s; print(s.DEBUG, bool(s.SECRET_KEY))"],
        cwd=BASE_DIR,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "env, missing",
    [
        ({}, "SECRET_KEY, FACEBOOK_APP_SECRET"),
        ({"SECRET_KEY": "x"}, "FACEBOOK_APP_SECRET"),
        ({"FACEBOOK_APP_SECRET": "x"}, "SECRET_KEY"),
        ({"DEBUG": "off", "SECRET_KEY": "x"}, "FACEBOOK_APP_SECRET"),
    ],
)
def test_production_refuses_to_start_without_secrets(env, missing):
    result = import_settings(**env)
    assert result.returncode != 0
    assert f"Refusing to start with DEBUG off: {missing} not set" in result.stderr


def test_production_starts_with_its_secrets():
    result = import_settings(SECRET_KEY="x", FACEBOOK_APP_SECRET="y")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False True"


def test_development_starts_without_secrets():
    result = import_settings(DEBUG="on")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True True"


def test_fast_password_hashing_is_refused_outside_tests():
    result = import_settings(
        SECRET_KEY="x", FACEBOOK_APP_SECRET="y", DEVTOOLS="off", FAST_PASSWORD_HASHING="on"
    )
    assert result.returncode != 0
    assert "FAST_PASSWORD_HASHING is for tests" in result.stderr


def test_the_loopback_allowance_of_outgoing_calls_is_refused_outside_tests():
    result = import_settings(
        SECRET_KEY="x", FACEBOOK_APP_SECRET="y", DEVTOOLS="off", OUTGOING_URLS_ALLOW_LOOPBACK="on"
    )
    assert result.returncode != 0
    assert "OUTGOING_URLS_ALLOW_LOOPBACK is for tests" in result.stderr


def test_the_test_suite_hashes_passwords_fast(settings):
    # Each test user would otherwise cost a deliberately slow PBKDF2 hash.
    assert settings.PASSWORD_HASHERS == ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_a_worker_is_not_taken_for_dead_after_fewer_than_three_missed_heartbeats():
    result = import_settings(DEBUG="on", WORKER_HEARTBEAT_INTERVAL="2", WORKER_DEAD_AFTER="5")
    assert result.returncode != 0
    assert "WORKER_DEAD_AFTER (5 s) must be at least three heartbeats" in result.stderr
