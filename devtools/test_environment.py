"""The test suite's environment, loaded by pytest (`-p devtools.test_environment` in pytest.ini).

pytest-django imports the settings before any conftest.py runs, so the variables the settings
require must be in place earlier than a conftest could put them. Anything already set wins:
`DATABASE_URL=mysql://... pytest` runs the suite on MySQL.
"""

import os
import sys

# Python keeps what it compiles in __pycache__ (gitignored), and pytest the test modules it
# rewrites for its assertion messages, even where PYTHONDONTWRITEBYTECODE is set: compiling them
# all again costs each test process (each -n worker too) about 3 s of CPU, every run.
sys.dont_write_bytecode = False

TEST_ENVIRONMENT = {
    # Not the developer's .env (bin/dev writes one): the suite runs on these values alone.
    "ENV_FILE": os.devnull,
    "DEBUG": "off",
    "DEVTOOLS": "on",
    "SECRET_KEY": "test-secret-key",
    "FACEBOOK_APP_SECRET": "test-app-secret",
    "INSTAGRAM_VERIFY_TOKEN": "test-verify-token",
    "INSTAGRAM_PAGE_ACCESS_TOKEN": "test-page-access-token",
    "GRAPH_API_BASE_URL": "https://graph.facebook.com",
    "GRAPH_API_VERSION": "v21.0",
    "DATABASE_URL": "sqlite:///db.sqlite3",
    "SECURE_SSL_REDIRECT": "off",
    "ALLOWED_HOSTS": "localhost,127.0.0.1,testserver",
    # Test users need no costly password hash (settings allow it only with DEVTOOLS on).
    "FAST_PASSWORD_HASHING": "on",
    # Two keys, newest first, as after a rotation.
    "FIELD_ENCRYPTION_KEY": "qRuZTTf7kQbVMSyiYvZvJH3_JbKzVqJr7Cr0NnJ3Lrw=,"
    "b3Z2e0lkvxOS4nE7xXJ9qT0Vzm6C2Vb8lW1A6ZfK0Fs=",
}

for name, value in TEST_ENVIRONMENT.items():
    os.environ.setdefault(name, value)

# The Redis queue's tests run against TEST_REDIS_URL (CI sets it; they skip without it). The
# settings read the queue's address once, at import: give it that database now.
if os.environ.get("TEST_REDIS_URL"):
    os.environ["REDIS_URL"] = os.environ["TEST_REDIS_URL"]
