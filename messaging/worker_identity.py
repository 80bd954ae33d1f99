"""Which worker process this is: the name its claims (claimed_by) and its heartbeat carry."""

import os
import secrets
import socket

_name: tuple[int, str] | None = None  # (pid, name)


def this_worker() -> str:
    """host:pid:random, fixed for the life of the process.

    The random part tells apart two processes that got the same pid on one host (a container
    restarted): a new worker must never be mistaken for the dead one whose work it recovers.
    """
    global _name
    pid = os.getpid()
    if _name is None or _name[0] != pid:  # a forked child is a process of its own
        _name = (pid, f"{socket.gethostname()[:150]}:{pid}:{secrets.token_hex(4)}")
    return _name[1]
