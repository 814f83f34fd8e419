"""MongoDB storage: the client adapter, the document models and one repository per collection."""

from bot.storage.contacts import ContactRepository
from bot.storage.database import Database
from bot.storage.messages import MessageRepository
from bot.storage.models import GONE_OUT, UNFINISHED, Contact, Direction, Message, MessageStatus, Persona, utc_now
from bot.storage.personas import PersonaRepository

__all__ = [
    "GONE_OUT",
    "UNFINISHED",
    "Contact",
    "ContactRepository",
    "Database",
    "Direction",
    "Message",
    "MessageRepository",
    "MessageStatus",
    "Persona",
    "PersonaRepository",
    "utc_now",
]
