"""Everything that knows about WhatsApp Web and the browser.

client.py (what the rest of the bot uses) -> supervisor.py (browser sessions, recovery, watchdog) and
dispatcher.py (page events -> states, login codes, messages); states.py and connection.py hold the state;
browser.py, profile.py, page.py, injection.py and bridge.js are the parts that touch Chromium and the page.
"""

from bot.whatsapp.client import WhatsAppClient
from bot.whatsapp.events import IncomingMessage, LoginCode, MessageAck
from bot.whatsapp.login import QrPresenter
from bot.whatsapp.states import ConnectionState, StateChange

__all__ = [
    "ConnectionState",
    "IncomingMessage",
    "LoginCode",
    "MessageAck",
    "QrPresenter",
    "StateChange",
    "WhatsAppClient",
]
