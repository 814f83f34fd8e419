"""Everything that knows about WhatsApp Web and the browser."""

from bot.whatsapp.client import WhatsAppClient
from bot.whatsapp.events import ConnectionState, IncomingMessage, LoginCode, StateChange
from bot.whatsapp.login import QrPresenter

__all__ = ["ConnectionState", "IncomingMessage", "LoginCode", "QrPresenter", "StateChange", "WhatsAppClient"]
