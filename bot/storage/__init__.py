"""MongoDB storage: the client adapter, the document models and one repository per collection."""

from bot.storage.contacts import ContactRepository
from bot.storage.database import Database
from bot.storage.messages import MessageRepository
from bot.storage.models import Contact, Direction, Message, MessageStatus, Persona
from bot.storage.personas import PersonaRepository

__all__ = [
    "Contact",
    "ContactRepository",
    "Database",
    "Direction",
    "Message",
    "MessageRepository",
    "MessageStatus",
    "Persona",
    "PersonaRepository",
]
