"""`manage.py fake_graph_api`: a port in use and a share that is not one are clear errors."""

import socket
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command


def test_a_port_in_use_is_a_clear_error_not_a_traceback(settings):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        settings.GRAPH_API_BASE_URL = f"http://127.0.0.1:{taken.getsockname()[1]}"
        with pytest.raises(CommandError, match=r"Cannot listen on 127\.0\.0\.1:.*FAKE_GRAPH_PORT"):
            call_command("fake_graph_api")


# Each case starts manage.py (about a second): the quick run tries one, CI every one.
@pytest.mark.parametrize(
    "share",
    [
        "a lot",
        *(pytest.param(share, marks=pytest.mark.slow) for share in ["5", "-1", "nan", "inf"]),
    ],
)
def test_drop_webhooks_takes_a_share_from_0_to_1(share):
    run = subprocess.run(
        [sys.executable, "manage.py", "fake_graph_api", "--drop-webhooks", share],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert "must be a share from 0 to 1" in run.stderr
    assert "Traceback" not in run.stderr
