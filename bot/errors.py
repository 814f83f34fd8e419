"""The bot's small exception tree. Transport errors are mapped into it in one place per adapter.

Errors that end the daemon carry the exit code the command line returns, so systemd (and the operator) can tell
"fix the configuration" from "try again later" (see the README's exit code table).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_INTERNAL = 1  # a bug: the log has the traceback
EXIT_SETTINGS = 2  # a setting has a wrong value (also argparse's usage errors)
EXIT_ENVIRONMENT = 3  # something on this machine must be fixed first; restarting will not help
EXIT_NEEDS_OPERATOR = 4  # WhatsApp waits for a person (link the phone); restarting in a loop will not help
EXIT_UNAVAILABLE = 5  # a service is down (WhatsApp Web, MongoDB, Gemini); a later restart may succeed


class BotError(Exception):
    """Base of every error the bot raises on purpose."""


class StartupError(BotError):
    """The daemon cannot start; the message tells the operator what to fix, in one line."""

    exit_code = EXIT_ENVIRONMENT


class Unavailable(StartupError):
    """A service the daemon needs does not answer; worth retrying later."""

    exit_code = EXIT_UNAVAILABLE


class StorageUnavailable(Unavailable):
    """MongoDB does not answer."""


class WhatsAppUnavailable(Unavailable):
    """WhatsApp Web could not be reached or never loaded, after every start-up attempt."""


class AccountInUse(Unavailable):
    """Another daemon drives this account (it holds the lease, or took it over): retry once it has stopped."""


class NeedsOperator(StartupError):
    """WhatsApp waits for a person: nobody linked the phone in time."""

    exit_code = EXIT_NEEDS_OPERATOR


class WhatsAppError(BotError):
    """WhatsApp Web refused or failed an action."""


class NotReady(WhatsAppError):
    """WhatsApp Web is not connected, so the action was not tried."""


class AIError(BotError):
    """The model could not produce a reply."""
