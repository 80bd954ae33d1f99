"""The test suite's environment, loaded by pytest (`-p instabot.test_environment` in pytest.ini).

pytest-django imports the settings before any conftest.py runs, so the variables the settings
require must be in place earlier than a conftest could put them. Anything already set wins:
`DATABASE_URL=mysql://... pytest` runs the suite on MySQL.
"""

import os

TEST_ENVIRONMENT = {
    "DEBUG": "off",
    "SECRET_KEY": "test-secret-key",
    "FACEBOOK_APP_SECRET": "test-app-secret",
    "INSTAGRAM_VERIFY_TOKEN": "test-verify-token",
    "INSTAGRAM_PAGE_ACCESS_TOKEN": "test-page-access-token",
    "GRAPH_API_BASE_URL": "https://graph.facebook.com",
    "GRAPH_API_VERSION": "v21.0",
    "DATABASE_URL": "sqlite:///db.sqlite3",
    "SECURE_SSL_REDIRECT": "off",
    "ALLOWED_HOSTS": "localhost,127.0.0.1,testserver",
    # Two keys, newest first, as after a rotation.
    "FIELD_ENCRYPTION_KEY": "qRuZTTf7kQbVMSyiYvZvJH3_JbKzVqJr7Cr0NnJ3Lrw=,"
    "b3Z2e0lkvxOS4nE7xXJ9qT0Vzm6C2Vb8lW1A6ZfK0Fs=",
}

for name, value in TEST_ENVIRONMENT.items():
    os.environ.setdefault(name, value)
