"""bin/apt-install waits for another apt run instead of failing with "Could not get lock"."""

import os
import subprocess
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]

# Stands in for apt-get: records its arguments; `update` finds the lists' lock held the first
# two times, as while unattended-upgrades runs.
FAKE_APT_GET = """#!/usr/bin/env bash
echo "$*" >> "$CALLS"
if [[ " $* " == *" update "* ]] && (( $(grep -c ' update' "$CALLS") <= 2 )); then
    echo "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 42 (apt-get)" >&2
    echo "E: Unable to lock directory /var/lib/apt/lists/" >&2
    exit 100
fi
"""


def run_apt_install(tmp_path, fake=FAKE_APT_GET, **env):
    (tmp_path / "apt-get").write_text(fake)
    (tmp_path / "apt-get").chmod(0o755)
    calls = tmp_path / "calls"
    calls.touch()
    finished = subprocess.run(
        [str(BASE_DIR / "bin/apt-install"), "chromium"],
        env={**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}", "CALLS": str(calls), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    return finished, calls.read_text().splitlines()


@pytest.mark.slow  # waits out the lock as bin/apt-install does, a second a try
def test_a_held_apt_lock_is_waited_for(tmp_path):
    finished, calls = run_apt_install(tmp_path)
    assert finished.returncode == 0, finished.stderr
    assert calls == [
        "-o DPkg::Lock::Timeout=300 update -qq",
        "-o DPkg::Lock::Timeout=300 update -qq",
        "-o DPkg::Lock::Timeout=300 update -qq",
        "-o DPkg::Lock::Timeout=300 install -y -qq chromium",
    ]
    assert "Waiting for another apt run to finish" in finished.stderr


def test_other_apt_failures_stop_at_once(tmp_path):
    fake = '#!/usr/bin/env bash\necho "$*" >> "$CALLS"\necho "E: Failed to fetch" >&2\nexit 100\n'
    finished, calls = run_apt_install(tmp_path, fake)
    assert finished.returncode == 1
    assert "E: Failed to fetch" in finished.stderr
    assert len(calls) == 1  # no install after a failed update, and no retry


def test_it_gives_up_when_the_lock_is_held_too_long(tmp_path):
    finished, calls = run_apt_install(tmp_path, APT_LOCK_WAIT="0")
    assert finished.returncode == 1
    assert "Could not get lock" in finished.stderr
    assert len(calls) == 1
