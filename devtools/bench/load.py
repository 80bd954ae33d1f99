"""The load generator: Meta-shaped signed deliveries, sent over loopback with asyncio and raw
sockets, light enough that one process can outrun the server, in a closed loop (N clients) or
an open loop (a steady rate, whatever the answers take, as Meta sends)."""

import asyncio
import secrets
import time
from dataclasses import dataclass, field

from devtools.bench.plan import ACCOUNT_IDS, APP_SECRET
from devtools.simulation import message_delivery, signed_headers


@dataclass
class Latencies:
    samples_ms: list[float] = field(default_factory=list)
    errors: int = 0

    async def request(self, port: int, raw: bytes) -> None:
        """Send one request; record its latency if answered 200, else count an error."""
        started = time.monotonic()
        try:
            status = await request_status(port, raw)
        except OSError:
            status = 0
        if status == 200:
            self.samples_ms.append((time.monotonic() - started) * 1000)
        else:
            self.errors += 1

    def percentile(self, p: float) -> float | None:
        if not self.samples_ms:
            return None
        ordered = sorted(self.samples_ms)
        return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 2)


async def request_status(port: int, raw: bytes) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        status_line = await reader.readline()
        await reader.read()  # gunicorn's sync workers close the connection after each answer
        return int(status_line.split()[1])
    finally:
        writer.close()


def post_request(path: str, body: bytes, headers: dict) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def get_request(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()


class Deliveries:
    """Meta-shaped, signed, single-message deliveries, each with its own mid."""

    def __init__(self, customers: int = 1000, prefix: str = "9"):
        self.customers = customers
        self.prefix = prefix  # each phase its own customers, so replies match their own DMs
        self.count = 0
        self.sent_at: dict[str, list[float]] = {}  # customer -> POST times, oldest first

    def next(self) -> tuple[str, bytes]:
        self.count += 1
        number = self.count % self.customers
        customer = f"{self.prefix}{number:07d}"
        account_id = ACCOUNT_IDS[number % len(ACCOUNT_IDS)]  # a customer writes to one account
        body = message_delivery(
            account_id=account_id,
            sender_id=customer,
            recipient_id=account_id,
            text=f"Hi! I'd like to order #{self.count}",
            mid=f"bench-{secrets.token_hex(8)}-{self.count}",
        )
        return customer, post_request("/webhooks/instagram", body, signed_headers(body, APP_SECRET))


async def closed_loop(port, make_request, concurrency: int, seconds: float) -> dict:
    """`concurrency` clients, each sending its next request when the last is answered."""
    latencies = Latencies()
    deadline = time.monotonic() + seconds

    async def client():
        while time.monotonic() < deadline:
            await latencies.request(port, make_request())

    began = time.monotonic()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    elapsed = time.monotonic() - began
    return {
        "rps": round(len(latencies.samples_ms) / elapsed, 1),
        "p50_ms": latencies.percentile(50),
        "p99_ms": latencies.percentile(99),
        "errors": latencies.errors,
    }


async def open_loop(port, deliveries: Deliveries, rate: float, seconds: float) -> dict:
    """Deliveries at a steady `rate` a second, whatever the answers take (as Meta sends)."""
    latencies = Latencies()
    tasks = []

    async def one(customer: str, raw: bytes):
        deliveries.sent_at.setdefault(customer, []).append(time.time())
        await latencies.request(port, raw)

    began = time.monotonic()
    for n in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, began + n / rate - time.monotonic()))
        tasks.append(asyncio.create_task(one(*deliveries.next())))
    await asyncio.gather(*tasks)
    return {
        "sent": len(tasks),
        "p50_ms": latencies.percentile(50),
        "p99_ms": latencies.percentile(99),
        "errors": latencies.errors,
    }


def prepared(make_request, count: int):
    """`count` requests built before the clock starts, then more on demand. The load generator
    shares the CPU with the server: building a signed delivery during the level would charge
    the webhook for the generator's work (the /ping request is one constant)."""
    ready = iter([make_request() for _ in range(count)])
    return lambda: next(ready, None) or make_request()
