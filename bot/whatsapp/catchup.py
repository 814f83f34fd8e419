"""Reading back what arrived while the bot was not listening.

WhatsApp Web emits new-message events only to listeners that exist when a message arrives. Messages that came
while the browser was down, the page was reloading, the stream was offline or our code was not yet injected
show up only as unread chats; after every (re)connection they are read from the page with the same wa-js calls
a person's client uses. The inbox drops the ones it already has, so reading one twice is harmless.
"""

from __future__ import annotations

from loguru import logger
from pydantic import ValidationError

from bot.ops.logging import invalid_shape
from bot.whatsapp.events import IncomingMessage, PageMessage, to_incoming
from bot.whatsapp.page import PageBridge

UNREAD_JS = "(perChat) => window.__waBot.unread(perChat)"
UNREAD_PER_CHAT = 50


async def read_unread(bridge: PageBridge, *, timeout_s: float) -> list[IncomingMessage]:
    """The unread messages of one-to-one chats and groups, oldest first within each chat; never own messages."""
    raw = await bridge.call(UNREAD_JS, UNREAD_PER_CHAT, timeout_s=timeout_s, action="read unread chats")
    found = []
    for item in raw or []:
        try:
            message = to_incoming(PageMessage.model_validate(item), from_history=True)
        except ValidationError as error:
            logger.warning("ignored an unread message in an unexpected shape: {}", invalid_shape(error))
            continue
        # Unread is counted from the end of a chat, so the window can hold replies the bot sent without marking
        # the chat read; they are not news, and an own message is never a takeover found after the fact.
        if message is not None and not message.from_me:
            found.append(message)
    return found
