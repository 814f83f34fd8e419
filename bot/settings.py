"""Every knob of the daemon in one pydantic-settings model, read from the environment and an optional `.env`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.context.situation import WorkingHours, zone

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WA_JS = PROJECT_ROOT / "node_modules" / "@wppconnect" / "wa-js" / "dist" / "wppconnect-wa.js"
MEMORY_URI = "memory://"
NAME_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
PHONE_PATTERN = re.compile(r"\+?[0-9][0-9 ()-]{5,20}")
# Their values are never echoed in error messages: a mistyped MongoDB URI can still carry a password.
SECRET_SETTINGS = frozenset({"MONGODB_URI", "GEMINI_API_KEY", "ALERT_WEBHOOK_URL"})


# The bot at its own speed: no waiting for people to stop typing, no human-looking pacing, no flood or rate
# limits. For tests and benchmarks, which measure or prove the rest; never for real contacts.
UNPACED: dict[str, object] = {
    "coalesce_quiet_s": 0.0,
    "typing_chars_per_s": 0.0,
    "min_gap_per_contact_s": 0.0,
    "max_messages_per_minute": 0,
    "flood_soft_per_minute": 0,
    "flood_hard_per_minute": 0,
}


class SettingsError(ValueError):
    """A setting has a wrong value; the message is one line naming the setting and what is expected."""


class Settings(BaseSettings):
    """The daemon's configuration. Environment variables use the field name in upper case (ACCOUNT, ...)."""

    # Empty values count as unset, so a copied example with `GEMINI_API_KEY=` left blank means "not set".
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", env_ignore_empty=True, extra="ignore")

    # WhatsApp and the browser
    account: str = Field(
        "default", description="name of the WhatsApp account; its browser profile is sessions/<account>/"
    )
    sessions_dir: Path = Field(Path("sessions"), description="folder of browser profiles (kept at mode 0700)")
    profile_backups_kept: Annotated[int, Field(ge=1)] = Field(
        3, description="profile backups (`backup --profile`, GridFS) kept per account; older ones are removed"
    )
    whatsapp_url: str = Field("https://web.whatsapp.com/", description="address of WhatsApp Web")
    headless: bool = Field(True, description="run Chromium without a window")
    browser_executable: Path | None = Field(
        None, description="Chromium to launch; default: Playwright's own, else the system chromium"
    )
    wa_js_path: Path = Field(DEFAULT_WA_JS, description="the wa-js bundle injected into WhatsApp Web")
    whatsapp_ready_timeout_s: Annotated[float, Field(gt=0)] = Field(
        120.0,
        description="how long WhatsApp Web may take to load or sync before the page is reloaded (then relaunched)",
    )
    whatsapp_action_timeout_s: Annotated[float, Field(gt=0)] = Field(
        30.0, description="deadline for one action in the page (send a message, mark as read)"
    )
    whatsapp_probe_interval_s: Annotated[float, Field(gt=0)] = Field(
        30.0, description="how often the watchdog checks that the page still answers"
    )
    whatsapp_probe_timeout_s: Annotated[float, Field(gt=0)] = Field(
        10.0, description="a page that does not answer the watchdog within this is relaunched"
    )
    whatsapp_retry_initial_s: Annotated[float, Field(gt=0)] = Field(
        2.0, description="first wait before relaunching a failed browser session (doubles, with jitter)"
    )
    whatsapp_retry_max_s: Annotated[float, Field(gt=0)] = Field(
        120.0, description="longest wait between relaunches of a failed browser session"
    )
    whatsapp_start_attempts: Annotated[int, Field(ge=0)] = Field(
        5, description="failed launches before start-up gives up (exit 5) if WhatsApp Web was never reached; 0: never"
    )
    whatsapp_alert_after_attempts: Annotated[int, Field(ge=1)] = Field(
        3, description="failed relaunches in a row before the operator is alerted"
    )
    whatsapp_alert_after_s: Annotated[float, Field(gt=0)] = Field(
        300.0, description="the operator is alerted when WhatsApp has not been connected for this long"
    )
    wa_takeover_on_conflict: bool = Field(
        False, description="take the session back when WhatsApp Web is opened elsewhere (else wait and alert)"
    )
    login_max_qr_rounds: Annotated[int, Field(ge=0)] = Field(
        10, description="expired QR codes refreshed before the bot stops waiting for a login (exit 4); 0: never stop"
    )
    login_qr_text: bool = Field(
        True, description="print the login QR code as text on stderr (the terminal, or the journal under systemd)"
    )

    # Storage
    mongodb_uri: str | None = Field(
        None, description="MongoDB connection string; memory:// selects the in-memory store (nothing persists)"
    )
    mongodb_database: Annotated[str, Field(min_length=1)] = Field("whatsapp_bot", description="database name")
    mongodb_timeout_s: Annotated[float, Field(gt=0)] = Field(
        5.0, description="longest wait for one MongoDB operation before MongoDB counts as unreachable"
    )

    # Lease: one daemon per account (bot/ops/lease.py)
    lease_renew_s: Annotated[float, Field(gt=0)] = Field(
        10.0, description="how often the daemon renews its lease on the account in MongoDB"
    )
    lease_ttl_s: Annotated[float, Field(gt=0)] = Field(
        45.0,
        description="a lease not renewed for this long is expired: a standby may take the account over "
        "(must exceed LEASE_RENEW_S, ideally several times)",
    )
    lease_wait: bool = Field(
        False,
        description="when another daemon holds the account, wait as a standby and take over once its lease "
        "expires (else exit 5)",
    )

    @field_validator("lease_ttl_s")
    @classmethod
    def _lease_outlives_renewals(cls, value: float, info: ValidationInfo) -> float:
        renew_s = info.data.get("lease_renew_s")
        if renew_s is not None and value <= renew_s:
            raise ValueError(f"must be longer than LEASE_RENEW_S ({renew_s:g})")
        return value

    # AI
    gemini_api_key: SecretStr | None = Field(None, description="Google Gemini API key")
    gemini_model: Annotated[str, Field(min_length=1)] = Field("gemini-2.5-flash", description="Gemini model name")
    gemini_base_url: str | None = Field(None, description="Gemini endpoint; default: Google's")
    ai_timeout_s: Annotated[float, Field(gt=0)] = Field(
        30.0, description="deadline for one reply, every call and the waits between them included"
    )
    ai_attempts: Annotated[int, Field(ge=1, le=10)] = Field(
        3, description="most Gemini calls one reply may cost, retries included, before the fallback is sent"
    )
    ai_call_timeout_s: Annotated[float, Field(gt=0)] = Field(
        20.0, description="a Gemini call that has not answered within this is abandoned and tried again"
    )
    ai_retry_initial_s: Annotated[float, Field(gt=0, le=60)] = Field(
        0.5, description="first wait before calling Gemini again after a failure (doubles each time, with jitter)"
    )
    ai_retry_max_s: Annotated[float, Field(gt=0, le=300)] = Field(
        8.0,
        description="longest wait between two Gemini calls; when Gemini asks for a longer one (Retry-After), "
        "the fallback is sent at once",
    )
    ai_breaker_failures: Annotated[int, Field(ge=1, le=1000)] = Field(
        5, description="failed Gemini calls within AI_BREAKER_WINDOW_S that open the circuit breaker (no more calls)"
    )
    ai_breaker_window_s: Annotated[float, Field(gt=0, le=3600)] = Field(
        60.0, description="how far back the circuit breaker counts failed Gemini calls"
    )
    ai_breaker_open_s: Annotated[float, Field(gt=0, le=3600)] = Field(
        30.0,
        description="how long an open circuit breaker sends the fallback without calling Gemini before one probe call",
    )
    fallback_reply: Annotated[str, Field(min_length=1)] = Field(
        "Thanks for your message! I can't answer right now, but I'll get back to you soon.",
        description="sent when Gemini cannot answer",
    )
    embedding_model: Annotated[str, Field(min_length=1)] = Field(
        "gemini-embedding-001", description="Gemini model that embeds knowledge chunks and the messages asking"
    )
    embedding_timeout_s: Annotated[float, Field(gt=0)] = Field(
        10.0, description="deadline for one embedding call; past it, knowledge is searched by words instead"
    )
    knowledge_chunks: Annotated[int, Field(ge=0, le=20)] = Field(
        3, description="most knowledge chunks put into one prompt; 0: no knowledge"
    )
    knowledge_min_score: Annotated[float, Field(ge=-1, le=1)] = Field(
        0.6, description="cosine similarity a knowledge chunk needs to the message to enter the prompt"
    )
    knowledge_cache_s: Annotated[float, Field(ge=0)] = Field(
        60.0, description="how long a persona's knowledge is kept in memory before it is read again (kb changes)"
    )
    personas_dir: Path = Field(Path("config/personas"), description="folder of persona files (<name>.toml)")
    persona: str = Field("assistant", description="persona used when a contact has none of its own")
    history_limit: Annotated[int, Field(ge=0, le=200)] = Field(
        20, description="earlier messages of the same contact put into the prompt verbatim"
    )
    thread_idle_gap_s: Annotated[float, Field(gt=0)] = Field(
        1800.0, description="silence after which a contact's next message starts a new conversation thread"
    )
    summary_batch: Annotated[int, Field(ge=1, le=500)] = Field(
        10,
        description="older turns (beyond HISTORY_LIMIT) that are folded into the thread's summary by the model "
        "at a time",
    )
    earlier_threads: Annotated[int, Field(ge=0, le=20)] = Field(
        3, description="summaries of earlier conversations with the same contact put into the prompt"
    )
    ai_price_in_per_mtok: Annotated[float, Field(ge=0)] = Field(
        0.30, description="US dollars per million prompt tokens, for the cost recorded with each reply"
    )
    ai_price_out_per_mtok: Annotated[float, Field(ge=0)] = Field(
        2.50, description="US dollars per million answer tokens (thinking included), for the recorded cost"
    )

    # Pipeline
    max_concurrent_replies: Annotated[int, Field(ge=1, le=256)] = Field(
        8, description="conversations answered at the same time (each contact stays in order)"
    )
    shutdown_timeout_s: Annotated[float, Field(gt=0)] = Field(
        20.0,
        description="deadline for a clean stop (replies in flight get most of it); "
        "keep it under systemd's TimeoutStopSec",
    )
    reply_max_age_s: Annotated[float, Field(gt=0)] = Field(
        12 * 3600.0,
        description="messages older than this when the bot gets to them (it was down) are not answered but "
        "reported to the operator and left unread",
    )
    storage_buffer_size: Annotated[int, Field(ge=0)] = Field(
        1000,
        description="incoming messages kept in memory while MongoDB is unreachable (later ones stay unread on "
        "WhatsApp and are read back when it returns)",
    )
    send_breaker_failures: Annotated[int, Field(ge=1, le=1000)] = Field(
        5, description="sends WhatsApp refuses within SEND_BREAKER_WINDOW_S before sending pauses"
    )
    send_breaker_window_s: Annotated[float, Field(gt=0, le=3600)] = Field(
        60.0, description="the window in which refused sends are counted"
    )
    send_breaker_open_s: Annotated[float, Field(gt=0, le=3600)] = Field(
        60.0, description="how long sending pauses before one reply is tried again (replies wait, stored)"
    )
    max_waiting_contacts: Annotated[int, Field(ge=1)] = Field(
        10_000,
        description="contacts waiting in memory for a free worker; past this their messages wait in the database "
        "and are taken up as the backlog shrinks",
    )
    coalesce_quiet_s: Annotated[float, Field(ge=0)] = Field(
        2.0,
        description="a contact's messages are answered together once they have stopped writing for this long "
        "(people type in fragments); 0: answer at once",
    )
    coalesce_max_wait_s: Annotated[float, Field(ge=0)] = Field(
        10.0, description="longest wait for a contact to stop writing before their messages are answered anyway"
    )
    flood_soft_per_minute: Annotated[int, Field(ge=0)] = Field(
        10, description="a contact writing more messages than this per minute is answered less often; 0: no limit"
    )
    flood_quiet_s: Annotated[float, Field(ge=0)] = Field(
        15.0, description="how long a contact past FLOOD_SOFT_PER_MINUTE must stop writing before an answer"
    )
    flood_hard_per_minute: Annotated[int, Field(ge=0)] = Field(
        20,
        description="a contact writing more messages than this per minute is paused for FLOOD_PAUSE_S, with one "
        "polite notice; 0: no limit",
    )
    flood_pause_s: Annotated[float, Field(ge=0)] = Field(
        600.0, description="how long a flooding contact goes unanswered (their messages are stored, and skipped)"
    )
    flood_notice: Annotated[str, Field(min_length=1)] = Field(
        "You're writing faster than I can answer; I'll get back to you in a little while.",
        description="the one message a flooding contact gets when paused",
    )

    # Pacing
    reply_max_chars: Annotated[int, Field(ge=0, le=65536)] = Field(
        1500, description="longer replies are sent as several messages, split at sentence ends; 0: never split"
    )
    typing_chars_per_s: Annotated[float, Field(ge=0)] = Field(
        25.0, description="typing speed shown before each message (it is delayed by its length over this); 0: off"
    )
    typing_max_s: Annotated[float, Field(ge=0)] = Field(8.0, description="longest typing delay before one message")
    typing_jitter: Annotated[float, Field(ge=0, le=1)] = Field(
        0.3, description="typing delays vary randomly by up to this fraction, so they do not look mechanical"
    )
    min_gap_per_contact_s: Annotated[float, Field(ge=0)] = Field(
        1.0, description="shortest time between two messages to the same contact; 0: no gap"
    )
    max_messages_per_minute: Annotated[int, Field(ge=0)] = Field(
        120,
        description="most messages sent in any minute, all contacts together (later ones wait their turn); 0: no cap",
    )

    # Who is answered
    answer_groups: bool = Field(
        False, description="answer in groups, and there only messages that mention the operator's number"
    )
    answer_only: Annotated[list[str], NoDecode] = Field(
        [],
        description="answer only these numbers (comma-separated, with country code, e.g. 15551234567,447700900123); "
        "empty: everyone",
    )
    takeover_pause_s: Annotated[float, Field(ge=0)] = Field(
        1800.0,
        description="when the operator writes in a chat from the phone, the bot leaves that contact alone this "
        "long (human takeover); 0: never",
    )
    media_policy: Literal["polite", "skip"] = Field(
        "polite",
        description="media the model cannot see, without a caption (voice notes, videos, documents, contact cards, "
        "locations): polite answers with the persona's media reply or MEDIA_REPLY (a location with LOCATION_REPLY), "
        "skip leaves it unread for the operator; a caption is answered as text either way, images are shown to the "
        "model, stickers are never answered",
    )
    media_reply: Annotated[str, Field(min_length=1)] = Field(
        "I can only read text messages here; I'll look at this soon.",
        description="the answer to media without a caption when MEDIA_POLICY=polite and the persona has none",
    )
    location_reply: Annotated[str, Field(min_length=1)] = Field(
        "Thanks for sharing your location!", description="the answer to a shared location when MEDIA_POLICY=polite"
    )
    media_max_bytes: Annotated[int, Field(ge=0)] = Field(
        5 * 1024 * 1024,
        description="largest image (bytes) downloaded for the model to see; a larger one is answered from its "
        "caption; 0: the model is never shown images",
    )
    prompt_message_max_chars: Annotated[int, Field(ge=100, le=65536)] = Field(
        4000,
        description="longest text of one message put into the prompt (history included); longer ones are cut, "
        "and stored whole",
    )
    prompt_budget_tokens: Annotated[int, Field(ge=500, le=1_000_000)] = Field(
        8000,
        description="estimated tokens one prompt may use; over it the oldest history goes first, then earlier "
        "conversations, then the least relevant knowledge",
    )
    operator_timezone: str = Field(
        "UTC", description="the operator's time zone (IANA name, e.g. Europe/Madrid): the time the bot tells the model"
    )
    operator_hours: str | None = Field(
        None,
        description="the operator's working hours, e.g. Mon-Fri 09:00-13:00,14:00-18:00; Sat 10:00-14:00; outside "
        "them the model is told the operator is likely away; empty: never counted away",
    )

    @field_validator("operator_timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        zone(value)
        return value

    @field_validator("operator_hours")
    @classmethod
    def _working_hours(cls, value: str | None) -> str | None:
        return None if value is None else WorkingHours.parse(value).text

    @property
    def working_hours(self) -> WorkingHours | None:
        return WorkingHours.parse(self.operator_hours) if self.operator_hours else None

    @field_validator("answer_only", mode="before")
    @classmethod
    def _numbers(cls, value: object) -> object:
        # The environment gives one string; numbers are kept as digits, the form chat ids use.
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            return value
        numbers = []
        for item in items:
            text = str(item).strip().removeprefix("+").replace(" ", "").replace("-", "")
            if not text:
                continue
            if not text.isascii() or not text.isdigit() or not 5 <= len(text) <= 20:
                raise ValueError(f"expected phone numbers made of digits, comma-separated, got {str(item).strip()!r}")
            numbers.append(text)
        return numbers

    # Operations
    log_level: Literal["TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR"] = Field("INFO", description="log level")
    # Logging (bot/ops/logging.py)
    log_format: Literal["auto", "text", "json"] = Field(
        "auto", description="auto: one JSON object per line under systemd/journald (JOURNAL_STREAM set), else text"
    )
    log_file: Path | None = Field(None, description="also log to this file (mode 0600, rotated and compressed)")
    log_rotation: Annotated[str, Field(min_length=1)] = Field(
        "50 MB", description='start a new log file at this size or age ("50 MB", "1 day", "00:00")'
    )
    log_retention: Annotated[str, Field(min_length=1)] = Field(
        "14 days", description='remove rotated log files older than this ("14 days"), or keep this many ("10")'
    )
    log_show_private: bool = Field(
        False, description="show phone numbers and message text in the logs (debugging only; masked by default)"
    )
    operator_number: str | None = Field(
        None, description="the operator's WhatsApp number (+15551234567): alerts are sent there when connected"
    )
    alert_webhook_url: str | None = Field(None, description="alerts are also POSTed as JSON to this address")
    alert_settle_s: Annotated[float, Field(ge=0)] = Field(
        60.0, description='how long the connection must stay up before a "back" notice (flapping sends one alert)'
    )

    # Status server (bot/ops/status_server.py), on 127.0.0.1 only
    status_enabled: bool = Field(True, description="serve /healthz, /readyz, /metrics, /login and /status")
    status_port: Annotated[int, Field(ge=0, le=65535)] = Field(
        8765, description="port of the status server on 127.0.0.1 (0: any free port)"
    )
    status_token: SecretStr | None = Field(
        None,
        description="token for /login, /status and the HTTP API; unset: a new one each start, logged once at start-up",
    )

    # HTTP API for integrations (bot/ops/api.py), served by the status server under /api/v1/, behind STATUS_TOKEN
    api_enabled: bool = Field(True, description="serve the HTTP API under /api/v1/ on the status server")
    api_send_any_number: bool = Field(
        False, description="POST /api/v1/messages may write to any number; false: only to contacts who wrote first"
    )
    api_send_timeout_s: Annotated[float, Field(gt=0)] = Field(
        30.0, description="longest wait for WhatsApp to take a message sent through the API (then 504)"
    )

    # Scheduler (bot/ops/scheduler.py); times of day are HH:MM in OPERATOR_TIMEZONE, "off" turns a job off
    health_check_s: Annotated[float, Field(gt=0)] = Field(
        30.0, description="how often the health check runs (database ping, AI breaker, WhatsApp state)"
    )
    scheduled_poll_s: Annotated[float, Field(gt=0)] = Field(
        5.0, description="how often due scheduled messages are looked for (and on every connect)"
    )
    retention_days: Annotated[int, Field(ge=0)] = Field(
        180, description="settled messages older than this many days are removed or anonymised; 0: kept forever"
    )
    retention_mode: Literal["remove", "anonymise"] = Field(
        "remove",
        description="remove: old messages, threads and done scheduled messages are deleted; anonymise: their "
        "text is emptied (kept for counts) and old thread summaries dropped",
    )
    retention_at: str | None = Field("03:30", description="when the daily retention clean-up runs (HH:MM or off)")
    daily_summary_at: str | None = Field(
        "20:00", description="when the operator gets the daily summary of the last 24 h (HH:MM or off)"
    )
    browser_restart_at: str | None = Field(
        None, description="restart Chromium daily at this quiet time (HH:MM; empty or off: never)"
    )

    @field_validator("retention_at", "daily_summary_at", "browser_restart_at", mode="before")
    @classmethod
    def _time_of_day(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and value.strip().lower() in ("", "off", "none")):
            return None
        text = str(value).strip()
        match = re.fullmatch(r"([01]?[0-9]|2[0-3]):([0-5][0-9])", text)
        if match is None:
            raise ValueError(f"expected a time of day as HH:MM (or off), got {text!r}")
        return f"{int(match[1]):02d}:{match[2]}"

    @field_validator("account", "persona")
    @classmethod
    def _name(cls, value: str) -> str:
        # These become file names (sessions/<account>/, config/personas/<persona>.toml).
        if not NAME_PATTERN.fullmatch(value):
            raise ValueError("expected 1 to 64 letters, digits, '_' or '-'")
        return value

    @field_validator("operator_number")
    @classmethod
    def _phone_number(cls, value: str | None) -> str | None:
        if value is not None and not PHONE_PATTERN.fullmatch(value):
            raise ValueError("expected an international number with country code, e.g. +15551234567")
        return value

    @field_validator("whatsapp_url", "gemini_base_url", "alert_webhook_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// address")
        return value

    @field_validator("mongodb_uri")
    @classmethod
    def _mongodb_uri(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("mongodb://", "mongodb+srv://", MEMORY_URI)):
            raise ValueError("expected mongodb://..., mongodb+srv://... or memory://")
        return value

    @property
    def profile_dir(self) -> Path:
        return self.sessions_dir / self.account

    @property
    def qr_png_path(self) -> Path:
        """Where the login QR is written; inside the private sessions folder since it grants the account."""
        return self.sessions_dir / f"{self.account}.qr.png"

    @property
    def uses_memory_store(self) -> bool:
        return self.mongodb_uri is not None and self.mongodb_uri.startswith(MEMORY_URI)


def load_settings() -> Settings:
    """Read the settings, turning pydantic's report into one line that names each wrong setting."""
    try:
        return Settings()
    except ValidationError as error:
        raise SettingsError(describe_validation_error(error)) from None


def describe_validation_error(error: ValidationError) -> str:
    lines = []
    for problem in error.errors():
        name = ".".join(str(part) for part in problem["loc"]).upper() or "SETTINGS"
        got = problem.get("input")
        shown = "" if isinstance(got, dict) or name in SECRET_SETTINGS else f" (got {got!r})"
        lines.append(f"setting {name}: {_expected(problem)}{shown}")
    return "; ".join(lines)


def _expected(problem: ErrorDetails) -> str:
    message = str(problem["msg"])
    # pydantic prefixes custom validator messages with "Value error, "
    return message.removeprefix("Value error, ")
