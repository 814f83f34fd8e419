"""The bot's small exception tree. Transport errors are mapped into it in one place per adapter."""

from __future__ import annotations


class BotError(Exception):
    """Base of every error the bot raises on purpose."""


class StartupError(BotError):
    """The daemon cannot start; the message tells the operator what to fix, in one line."""


class StorageUnavailable(StartupError):
    """MongoDB is not configured or does not answer."""


class WhatsAppError(BotError):
    """WhatsApp Web refused or failed an action."""


class NotReady(WhatsAppError):
    """WhatsApp Web is not linked or not loaded yet, so nothing can be sent."""


class AIError(BotError):
    """The model could not produce a reply."""
