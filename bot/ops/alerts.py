"""The daemon's one alert interface: always a log line, plus the operator's channels, one alert per incident.

The connection supervisor reports what it sees (`problem`, `recovered`), as often as it sees it; this module turns
that stream into one "problem" alert per incident and one "back" notice once the connection has stayed up for a
settle period, so a flapping connection does not page the operator hundreds of times.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import aiohttp
from loguru import logger
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter
from yarl import URL

from bot.errors import BotError
from bot.ops.tasks import TaskSet

AlertKind = Literal["problem", "recovered", "notice"]


@dataclass(frozen=True, slots=True)
class Alert:
    """One message for the operator; each channel renders it in its own format."""

    key: str
    kind: AlertKind
    text: str
    account: str
    at: datetime


class AlertChannel(Protocol):
    """Somewhere alerts go besides the log. `deliver` may raise: Alerts logs the failure and carries on.

    A channel may also have an `async def close()`, which `Alerts.close` calls.
    """

    name: str

    async def deliver(self, alert: Alert) -> None: ...


class AlertDeliveryError(BotError):
    """A channel could not deliver an alert; the message is safe to log (it carries no URL secrets)."""


@dataclass(slots=True)
class _Incident:
    text: str
    opened_at: float
    flaps: int = 0
    recovered_at: float | None = None
    recovered_text: str = ""
    settle: asyncio.TimerHandle | None = None


class Alerts:
    """One incident per key: the first `problem` alerts, repeats are folded in, and the "back" notice waits until
    `recovered` has held for `settle_s` (a `problem` within it is the same incident, flapping).

    `problem` and `recovered` are synchronous so a state callback can call them; they must run on the event loop.
    Each delivery runs as its own owned task, so a slow or failing channel never blocks another or the caller.
    """

    def __init__(
        self,
        channels: Sequence[AlertChannel],
        *,
        account: str,
        settle_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if settle_s < 0:
            raise ValueError(f"settle_s must be 0 or more, not {settle_s}")
        self._channels = tuple(channels)
        self._account = account
        self._settle_s = settle_s
        self._clock = clock
        self._incidents: dict[str, _Incident] = {}
        self._deliveries = TaskSet()
        self._closed = False

    def is_open(self, key: str) -> bool:
        """True from the first problem until the back notice (a recovery still settling counts as open)."""
        return key in self._incidents

    def problem(self, key: str, text: str) -> None:
        """Report that `key` is down; only the first report of an incident reaches the channels."""
        incident = self._incidents.get(key)
        if incident is None:
            self._incidents[key] = _Incident(text=text, opened_at=self._clock())
            logger.error("alert: {}", text)
            self._send(key, "problem", text)
            return
        if incident.settle is not None or incident.recovered_at is not None:
            if incident.settle is not None:
                incident.settle.cancel()
                incident.settle = None
            incident.recovered_at = None
            incident.flaps += 1
            logger.debug("alert: {} is down again while its recovery was settling (flap {})", key, incident.flaps)
        if text != incident.text:
            incident.text = text
            logger.warning("alert: still down: {}", text)

    def recovered(self, key: str, text: str) -> None:
        """Report that `key` works again; the back notice goes out once no problem came for `settle_s`."""
        incident = self._incidents.get(key)
        if incident is None:
            return
        incident.recovered_text = text
        if incident.recovered_at is not None:
            return  # already settling: the first recovery's timer stands
        incident.recovered_at = self._clock()
        if self._settle_s == 0 or self._closed:
            self._settled(key)
            return
        incident.settle = asyncio.get_running_loop().call_later(self._settle_s, self._settled, key)

    def notice(self, key: str, text: str, *, log_text: str | None = None) -> None:
        """Something the operator should know that is not an outage (no incident, no back notice). `log_text`:
        what the log says instead, when `text` quotes a contact (see bot.ops.logging.private)."""
        logger.warning("alert: {}", text if log_text is None else log_text)
        self._send(key, "notice", text)

    def _settled(self, key: str) -> None:
        incident = self._incidents.pop(key)
        recovered_at = incident.recovered_at if incident.recovered_at is not None else self._clock()
        down = _duration(recovered_at - incident.opened_at)
        flapped = ""
        if incident.flaps:
            flapped = " (flapped once)" if incident.flaps == 1 else f" (flapped {incident.flaps} times)"
        text = f"back after {down}{flapped}: {incident.recovered_text}"
        logger.success("alert: {}", text)
        self._send(key, "recovered", text)

    def _send(self, key: str, kind: AlertKind, text: str) -> None:
        if self._closed:
            return  # the log line above is all a closed Alerts gives
        alert = Alert(key=key, kind=kind, text=text, account=self._account, at=datetime.now(UTC))
        for channel in self._channels:
            self._deliveries.spawn(self._deliver(channel, alert), name=f"alert:{channel.name}:{key}:{kind}")

    @staticmethod
    async def _deliver(channel: AlertChannel, alert: Alert) -> None:
        try:
            await channel.deliver(alert)
        except AlertDeliveryError as error:
            logger.error(
                "alert: the {} channel could not deliver the {} alert for {}: {}",
                channel.name,
                alert.kind,
                alert.key,
                error,
            )
        except Exception:
            logger.exception("alert: the {} channel failed on the {} alert for {}", channel.name, alert.kind, alert.key)

    async def close(self, timeout_s: float) -> None:
        """Drop back notices still settling, give deliveries `timeout_s` to finish, cancel the rest, close channels."""
        if self._closed:
            return
        self._closed = True
        for incident in self._incidents.values():
            if incident.settle is not None:
                incident.settle.cancel()
                incident.settle = None
        if not await self._deliveries.wait(timeout_s):
            logger.warning(
                "alert: {} deliveries still running after {} s; cancelling them", len(self._deliveries), timeout_s
            )
            await self._deliveries.cancel()
        for channel in self._channels:
            close: Callable[[], Awaitable[object]] | None = getattr(channel, "close", None)
            if close is None:
                continue
            try:
                await close()
            except Exception:
                logger.exception("alert: closing the {} channel failed", channel.name)


def _duration(seconds: float) -> str:
    whole = max(0, int(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes = whole // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


_NUMBER = re.compile(r"[0-9+\-().\s]+")


def _chat_id(number: str) -> str:
    if not _NUMBER.fullmatch(number):
        raise ValueError(f"operator number {number!r} may hold only digits, spaces and + - ( ) .")
    digits = re.sub(r"[^0-9]", "", number)
    if not 6 <= len(digits) <= 15:
        raise ValueError(f"operator number {number!r} needs 6 to 15 digits (country code first), not {len(digits)}")
    return f"{digits}@c.us"


class WhatsAppAlertChannel:
    """Alerts to the operator's WhatsApp. `send` holds a message until WhatsApp can send it, so a problem alert
    arrives once the connection is back, which is still worth having: it says what happened."""

    name = "whatsapp"

    def __init__(self, send: Callable[[str, str], Awaitable[object]], operator_number: str) -> None:
        self._send = send
        self.chat_id = _chat_id(operator_number)

    async def deliver(self, alert: Alert) -> None:
        await self._send(self.chat_id, f"[{alert.account}] {alert.text}")


class _ServerError(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


# Worth another attempt: the network, a timeout, or the server's own trouble (5xx). A 4xx will not change.
_TRANSIENT = (aiohttp.ClientConnectionError, TimeoutError, _ServerError)


def _describe(error: BaseException | None) -> str:
    """Why a request failed, without str(error): aiohttp's messages can carry the full URL, token and all."""
    if isinstance(error, _ServerError):
        return f"HTTP {error.status}"
    if isinstance(error, TimeoutError):
        return "no answer in time"
    if isinstance(error, aiohttp.ClientConnectorError):
        return f"cannot connect ({error.os_error.strerror or type(error.os_error).__name__})"
    return type(error).__name__


class WebhookAlertChannel:
    """POSTs each alert as JSON to a URL the operator chose (chat hook, paging service); retries what may pass.

    Only the URL's scheme, host and port are ever logged: chat hooks (Slack, Discord) carry their token in the path,
    others in the query or the userinfo.
    """

    name = "webhook"

    def __init__(self, url: str, *, timeout_s: float = 10.0, attempts: int = 3, backoff_s: float = 1.0) -> None:
        parsed = URL(url)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValueError("the alert webhook URL must start with http:// or https:// and name a host")
        if attempts < 1:
            raise ValueError(f"attempts must be 1 or more, not {attempts}")
        self._url = parsed
        self.safe_url = str(parsed.origin())
        self._timeout_s = timeout_s
        self._attempts = attempts
        self._backoff_s = backoff_s
        self._session: aiohttp.ClientSession | None = None

    async def deliver(self, alert: Alert) -> None:
        payload = {
            "account": alert.account,
            "key": alert.key,
            "kind": alert.kind,
            "text": alert.text,
            "time": alert.at.astimezone(UTC).isoformat(),
        }
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_exponential_jitter(initial=self._backoff_s, max=60.0, jitter=self._backoff_s),
            retry=retry_if_exception_type(_TRANSIENT),
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    await self._post(payload)
        except _TRANSIENT as error:
            # from None: the chained aiohttp error would put the full URL into a logged traceback.
            raise AlertDeliveryError(
                f"webhook {self.safe_url}: {_describe(error)} after {self._attempts} attempts"
            ) from None
        except aiohttp.ClientError as error:
            raise AlertDeliveryError(f"webhook {self.safe_url}: {_describe(error)}") from None

    async def _post(self, payload: dict[str, Any]) -> None:
        if self._session is None or self._session.closed:
            # Here, not in __init__: a ClientSession belongs to the running loop.
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout_s))
        async with self._session.post(self._url, json=payload) as response:
            if response.status >= 500:
                raise _ServerError(response.status)
            if response.status >= 400:
                raise AlertDeliveryError(f"webhook {self.safe_url}: HTTP {response.status}, not retried")

    def _log_retry(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        wait_s = state.next_action.sleep if state.next_action is not None else 0.0
        logger.warning(
            "alert: webhook {} attempt {} of {} failed ({}); retrying in {:.1f} s",
            self.safe_url,
            state.attempt_number,
            self._attempts,
            _describe(error),
            wait_s,
        )

    async def close(self) -> None:
        """Release the HTTP session; a later delivery would open a new one."""
        if self._session is not None:
            await self._session.close()
            self._session = None
