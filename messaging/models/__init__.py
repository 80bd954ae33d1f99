"""messaging's models, one module a kind of row."""

from messaging.models.conversations import Conversation
from messaging.models.deliveries import STORED_HEADERS, WebhookDelivery
from messaging.models.messages import SENT_BY_US, Message, Send
from messaging.models.outbox import OutboxRow, OutboxStatus, WaitingFor
from messaging.models.throttles import HourlyQuota, SendThrottle
from messaging.models.workers import WorkerHeartbeat

__all__ = [
    "SENT_BY_US",
    "STORED_HEADERS",
    "Conversation",
    "HourlyQuota",
    "Message",
    "OutboxRow",
    "OutboxStatus",
    "Send",
    "SendThrottle",
    "WaitingFor",
    "WebhookDelivery",
    "WorkerHeartbeat",
]
