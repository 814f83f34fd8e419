"""From an incoming message to a sent reply: inbox, per-contact queues, conversation worker, outbox, reconciler."""

from bot.pipeline.conversation import ConversationWorker
from bot.pipeline.inbox import Inbox
from bot.pipeline.outbox import Outbox
from bot.pipeline.protocols import ChatActions
from bot.pipeline.queues import KeyedWorkQueue
from bot.pipeline.reconciler import Reconciler, StaleReport
from bot.pipeline.traffic import Traffic, TrafficRules

__all__ = [
    "ChatActions",
    "ConversationWorker",
    "Inbox",
    "KeyedWorkQueue",
    "Outbox",
    "Reconciler",
    "StaleReport",
    "Traffic",
    "TrafficRules",
]
