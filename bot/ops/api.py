"""The HTTP API for integrations (a CRM, a shop, a script): send a message, read a conversation, keep contacts
and personas, list scheduled messages. The status server serves these routes on 127.0.0.1; each needs the token.

JSON in, JSON out: every body is a pydantic model, and the OpenAPI document is built from the same models, so what
is documented is what is checked. Bad input always gets a 4xx `{"error", "details"}`; a 5xx means WhatsApp or
MongoDB is down (503, 504) or a bug.

A message sent through the API is stored like a reply: an outbound message of the contact, `pending` with the id
the bot chose for it before it goes out, then `sent` with WhatsApp's id (or `failed`). It has no turn, so the
pipeline's states never pick it up; storing its id first is what lets the inbox tell its echo from the operator
typing on the phone (which would pause the contact), and the contact's conversation (and the model's history)
then shows what they were told.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Protocol, TypeVar

from aiohttp import web
from loguru import logger
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.json_schema import models_json_schema

from bot.errors import WhatsAppError
from bot.ops.http_auth import require_token
from bot.settings import NAME_PATTERN, Settings
from bot.storage.contacts import OPERATOR_FIELDS, chat_id_of, normalize_number
from bot.storage.database import OUTAGE_ERRORS, Database
from bot.storage.models import (
    Contact,
    Direction,
    Message,
    MessageStatus,
    Organisation,
    Persona,
    PersonaInstructions,
    Relationship,
    new_id,
    utc_now,
)
from bot.storage.scheduled import ScheduledMessage, ScheduledStatus
from bot.whatsapp.events import new_message_id

PREFIX = "/api/v1"
# Bodies are small JSON documents; the largest is a persona. Read no more than this, whatever the server allows.
MAX_BODY_BYTES = 64 * 1024
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
NUMBER_REGEX = r"^\+?[0-9]{5,20}$"
NAME_REGEX = r"^[A-Za-z0-9_-]{1,64}$"
_NUMBER = re.compile(NUMBER_REGEX)
JSON_TYPES = frozenset({"application/json"})


class SendText(Protocol):
    """Sends a text with the message id the bot chose; returns WhatsApp's id for it (WhatsAppClient.send_text)."""

    def __call__(self, chat_id: str, text: str, *, message_id: str) -> Awaitable[str]: ...


def _always_connected() -> bool:
    return True


@dataclass(frozen=True)
class ApiDeps:
    """What the API needs from the running daemon."""

    db: Database
    send: SendText
    token: str
    # WhatsApp's connection right now: sending waits for the connection, an API caller should be told instead.
    connected: Callable[[], bool] = _always_connected
    send_any_number: bool = False
    send_timeout_s: float = 30.0

    @classmethod
    def from_settings(
        cls, settings: Settings, *, db: Database, send: SendText, token: str, connected: Callable[[], bool]
    ) -> ApiDeps:
        return cls(
            db=db,
            send=send,
            token=token,
            connected=connected,
            send_any_number=settings.api_send_any_number,
            send_timeout_s=settings.api_send_timeout_s,
        )


# Request bodies: unknown fields and wrong types are refused (strict), never coerced.


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


Number = Annotated[
    str, Field(pattern=NUMBER_REGEX, description="a phone number with country code: +15551234567 or 15551234567")
]
Tag = Annotated[str, Field(min_length=1, max_length=64)]


class SendRequest(_Body):
    to: Number
    text: str = Field(min_length=1, max_length=4096, description="the message, as the contact will see it")

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the text is blank")
        return value


class ContactFields(_Body):
    """The operator's fields of a contact. PUT sets every one (those left out get these defaults); PATCH only
    those given (null clears a text)."""

    name: str | None = Field(None, max_length=200, description="what the operator calls them")
    relationship: Relationship | None = Field(None, description="who they are to the operator")
    persona: str | None = Field(
        None, pattern=NAME_REGEX, description="the persona that answers them; null: the default one"
    )
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    priority: int = Field(0, ge=-1000, le=1000, description="who is answered first when many wait: higher first")
    auto_reply: bool = Field(True, description="answered by the bot; false: the operator answers them")
    blocked: bool = Field(False, description="never answered by the bot")
    notes: str | None = Field(None, max_length=10_000, description="the operator's notes about them")
    instructions: str | None = Field(
        None, max_length=4000, description="how to answer them (tone, language, topics); these win"
    )


class PersonaFields(_Body):
    """A persona as a persona file describes it (config/personas/<name>.toml)."""

    name: str = Field(min_length=1, max_length=100, description="the name the bot goes by")
    role: str = Field(min_length=1, max_length=500, description="what it is: 'support at Acme Bikes'")
    personality: str | None = Field(None, max_length=4000)
    style: str | None = Field(None, max_length=4000)
    organisation: Organisation | None = None
    instructions: PersonaInstructions = Field(default_factory=PersonaInstructions)
    greeting: str | None = Field(
        None, max_length=4000, description="said before the answer to a contact's very first message"
    )


# Response bodies: the API's own view of the stored documents, so storage can change without breaking callers.


class ErrorDetail(BaseModel):
    field: str = Field(description="where in the request: a dotted path into the body, or a parameter's name")
    message: str


class ApiErrorBody(BaseModel):
    error: str
    details: list[ErrorDetail] = Field(default_factory=list)


class ContactView(BaseModel):
    id: str = Field(description="the WhatsApp chat id: 15551234567@c.us")
    number: str = Field(description="the phone number, digits only")
    push_name: str | None = Field(description="the name the contact gave themselves in WhatsApp")
    name: str | None
    relationship: Relationship | None
    persona: str | None
    tags: list[str]
    priority: int
    auto_reply: bool
    blocked: bool
    notes: str | None
    instructions: str | None
    paused_until: datetime | None
    pause_reason: str | None
    message_count: int = Field(description="messages received from them")
    last_message_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, contact: Contact) -> ContactView:
        return cls.model_validate({**contact.model_dump(), "number": contact.phone})


class ContactList(BaseModel):
    contacts: list[ContactView]


class MessageView(BaseModel):
    id: str
    direction: Direction
    status: MessageStatus
    text: str
    kind: str
    wa_id: str | None
    created_at: datetime = Field(description="when the bot stored it")
    wa_time: datetime | None = Field(description="inbound: when the contact sent it, by WhatsApp's clock")
    sent_at: datetime | None
    fallback: bool = Field(description="a reply sent because the model failed")
    reason: str | None = Field(description="why it was skipped, or went stale")
    error: str | None

    @classmethod
    def of(cls, message: Message) -> MessageView:
        return cls.model_validate(message.model_dump())


class Conversation(BaseModel):
    contact: str = Field(description="the contact's chat id")
    messages: list[MessageView] = Field(description="the newest `limit` messages, oldest first")


class SentMessage(BaseModel):
    id: str = Field(description="the stored message's id")
    to: str = Field(description="the chat id it went to")
    wa_id: str = Field(description="WhatsApp's id for it")


class PersonaView(BaseModel):
    id: str
    name: str
    role: str
    personality: str | None
    style: str | None
    organisation: Organisation | None
    instructions: PersonaInstructions
    greeting: str | None
    from_file: bool = Field(description="loaded from a persona file (edit the file), or made by a tool or the API")
    updated_at: datetime

    @classmethod
    def of(cls, persona: Persona) -> PersonaView:
        return cls.model_validate({**persona.model_dump(), "from_file": persona.source is not None})


class PersonaList(BaseModel):
    personas: list[PersonaView]


class ScheduledView(BaseModel):
    id: str = Field(description="the id `run_bot.py schedule cancel` takes")
    to: str = Field(description="the chat id it goes to")
    text: str
    at: datetime = Field(description="when it is due")
    status: ScheduledStatus
    created_at: datetime
    attempts: int
    sent_at: datetime | None
    wa_id: str | None
    error: str | None

    @classmethod
    def of(cls, scheduled: ScheduledMessage) -> ScheduledView:
        return cls.model_validate(scheduled.model_dump())


class ScheduledList(BaseModel):
    scheduled: list[ScheduledView]


class ApiProblem(Exception):
    """A request the API refuses: becomes the JSON error body with this status."""

    def __init__(self, status: int, error: str, details: list[ErrorDetail] | None = None) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.details = details or []


M = TypeVar("M", bound=BaseModel)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(model: BaseModel, status: int = 200) -> web.Response:
    return web.json_response(model.model_dump(mode="json", by_alias=False), status=status)


def _problem(problem: ApiProblem) -> web.Response:
    return _json(ApiErrorBody(error=problem.error, details=problem.details), problem.status)


def _details(error: ValidationError) -> list[ErrorDetail]:
    # Only where and what: the input itself is not echoed back (it may be large or private).
    return [
        ErrorDetail(field=".".join(str(part) for part in item["loc"]) or "body", message=item["msg"])
        for item in error.errors(include_url=False, include_input=False, include_context=False)
    ]


async def read_body(request: web.Request, model: type[M]) -> M:
    """The request's JSON body as `model`; ApiProblem 415 / 413 / 400 (not JSON) / 422 (not this model)."""
    if request.content_type not in JSON_TYPES:
        raise ApiProblem(415, f"send the body as application/json (got {request.content_type})")
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise ApiProblem(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
    data = bytearray()
    async for chunk in request.content.iter_chunked(16 * 1024):
        data += chunk
        if len(data) > MAX_BODY_BYTES:
            raise ApiProblem(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
    try:
        return model.model_validate_json(bytes(data), strict=True)
    except ValidationError as error:
        if any(item["type"] == "json_invalid" for item in error.errors()):
            raise ApiProblem(400, "the body is not valid JSON", _details(error)) from None
        raise ApiProblem(422, f"the body is not a valid {model.__name__}", _details(error)) from None


def path_number(request: web.Request) -> str:
    """The `{number}` of the path, as digits; ApiProblem 400 for anything else."""
    text = request.match_info["number"]
    if not _NUMBER.fullmatch(text):
        raise ApiProblem(400, "not a phone number", [ErrorDetail(field="number", message="expected +15551234567")])
    return normalize_number(text)


def query_limit(request: web.Request) -> int:
    text = request.query.get("limit")
    if text is None:
        return DEFAULT_LIMIT
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise ApiProblem(
            400, "bad limit", [ErrorDetail(field="limit", message=f"expected a whole number from 1 to {MAX_LIMIT}")]
        )
    return int(text)


def query_flag(request: web.Request, name: str) -> bool:
    text = request.query.get(name, "false")
    if text not in ("true", "false"):
        raise ApiProblem(400, f"bad {name}", [ErrorDetail(field=name, message="expected true or false")])
    return text == "true"


def _endpoint(deps: ApiDeps, handler: Handler) -> Handler:
    """The token first; then refusals and outages as JSON errors. Anything else is a bug, and a 500."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        require_token(request, deps.token)
        try:
            return await handler(request)
        except ApiProblem as problem:
            return _problem(problem)
        except OUTAGE_ERRORS as error:
            logger.warning("api: {} {}: the database is not answering ({})", request.method, request.path, error)
            return _problem(ApiProblem(503, "the database is not answering; try again later"))

    return guarded


class _Api:
    def __init__(self, deps: ApiDeps) -> None:
        self._deps = deps
        self._db = deps.db
        self._document = openapi_document()

    async def send_message(self, request: web.Request) -> web.StreamResponse:
        body = await read_body(request, SendRequest)
        number = normalize_number(body.to)
        contact = await self._db.contacts.find(number)
        if contact is not None and contact.blocked:
            raise ApiProblem(403, "this contact is blocked for the bot; unblock them first")
        wrote = contact is not None and contact.message_count > 0
        if not wrote and not self._deps.send_any_number:
            raise ApiProblem(
                403,
                "this number never wrote to this account: the API only writes to contacts who wrote first "
                "(API_SEND_ANY_NUMBER=true allows any number)",
            )
        if not self._deps.connected():
            raise ApiProblem(503, "WhatsApp is not connected; try again later")
        chat_id = contact.id if contact is not None else chat_id_of(number)
        messages = self._db.messages
        message = await messages.store_outbound(
            f"api-{new_id()}", contact_id=chat_id, text=body.text, wa_key=new_message_id()
        )
        assert message.wa_key is not None
        try:
            async with asyncio.timeout(self._deps.send_timeout_s):
                wa_id = await self._deps.send(chat_id, body.text, message_id=message.wa_key)
        except TimeoutError:
            # It may still go out (sending waits for the page): its id is stored, so its echo is recognised.
            await messages.outbound_failed(message, error="not confirmed in time; it may still go out")
            raise ApiProblem(
                504, "WhatsApp did not confirm the message in time; it may still go out: check before resending"
            ) from None
        except WhatsAppError as error:
            await messages.outbound_failed(message, error=str(error))
            raise ApiProblem(503, f"WhatsApp did not take the message: {error}") from None
        await self._db.messages.part_sent(message, wa_id=wa_id)
        logger.info("api: message {} sent to {}", message.id, chat_id)
        return _json(SentMessage(id=message.id, to=chat_id, wa_id=wa_id), 201)

    async def conversation(self, request: web.Request) -> web.StreamResponse:
        contact = await self._contact(request)
        limit = query_limit(request)
        messages = await self._db.messages.for_contact(contact.id)
        return _json(Conversation(contact=contact.id, messages=[MessageView.of(m) for m in messages[-limit:]]))

    async def list_contacts(self, request: web.Request) -> web.StreamResponse:
        tag = request.query.get("tag")
        relationship = request.query.get("relationship")
        if relationship is not None and relationship not in Relationship.__members__.values():
            raise ApiProblem(
                400,
                "unknown relationship",
                [ErrorDetail(field="relationship", message=f"one of {', '.join(Relationship)}")],
            )
        contacts = await self._db.contacts.list(tag=tag, relationship=relationship)
        return _json(ContactList(contacts=[ContactView.of(contact) for contact in contacts]))

    async def get_contact(self, request: web.Request) -> web.StreamResponse:
        return _json(ContactView.of(await self._contact(request)))

    async def put_contact(self, request: web.Request) -> web.StreamResponse:
        number = path_number(request)
        body = await read_body(request, ContactFields)
        existing = await self._db.contacts.find(number)
        contact_id = existing.id if existing is not None else chat_id_of(number)
        contact = await self._db.contacts.update(contact_id, **body.model_dump(include=set(OPERATOR_FIELDS)))
        return _json(ContactView.of(contact), 200 if existing is not None else 201)

    async def patch_contact(self, request: web.Request) -> web.StreamResponse:
        existing = await self._contact(request)
        body = await read_body(request, ContactFields)
        fields = body.model_dump(include=body.model_fields_set)
        contact = await self._db.contacts.update(existing.id, **fields) if fields else existing
        return _json(ContactView.of(contact))

    async def list_personas(self, request: web.Request) -> web.StreamResponse:
        personas = await self._db.personas.list()
        return _json(PersonaList(personas=[PersonaView.of(persona) for persona in personas]))

    async def get_persona(self, request: web.Request) -> web.StreamResponse:
        name = _persona_name(request)
        persona = await self._db.personas.get(name)
        if persona is None:
            raise ApiProblem(404, f"no persona named {name!r}")
        return _json(PersonaView.of(persona))

    async def put_persona(self, request: web.Request) -> web.StreamResponse:
        name = _persona_name(request)
        body = await read_body(request, PersonaFields)
        existing = await self._db.personas.get(name)
        if existing is not None and existing.source is not None:
            # Start-up sync would put the file's version back: the file is the truth for these.
            raise ApiProblem(409, f"persona {name!r} comes from a persona file: edit the file instead")
        persona = Persona.model_validate({**body.model_dump(), "_id": name, "updated_at": utc_now()})
        await self._db.personas.save(persona)
        return _json(PersonaView.of(persona), 200 if existing is not None else 201)

    async def list_scheduled(self, request: web.Request) -> web.StreamResponse:
        include_done = query_flag(request, "include_done")
        scheduled = await self._db.scheduled.list(include_done=include_done)
        return _json(ScheduledList(scheduled=[ScheduledView.of(item) for item in scheduled]))

    async def openapi(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self._document)

    async def _contact(self, request: web.Request) -> Contact:
        number = path_number(request)
        contact = await self._db.contacts.find(number)
        if contact is None:
            raise ApiProblem(404, "no contact with this number")
        return contact


def _persona_name(request: web.Request) -> str:
    name = request.match_info["name"]
    if not NAME_PATTERN.fullmatch(name):
        raise ApiProblem(
            400, "not a persona name", [ErrorDetail(field="name", message="1 to 64 letters, digits, '_' or '-'")]
        )
    return name


def api_routes(deps: ApiDeps) -> list[web.RouteDef]:
    """The API's routes (full paths under /api/v1), each behind the token, for the status server to add."""
    api = _Api(deps)

    def route(method: str, path: str, handler: Handler) -> web.RouteDef:
        return web.route(method, PREFIX + path, _endpoint(deps, handler))

    return [
        route("GET", "/openapi.json", api.openapi),
        route("POST", "/messages", api.send_message),
        route("GET", "/contacts", api.list_contacts),
        route("GET", "/contacts/{number}", api.get_contact),
        route("PUT", "/contacts/{number}", api.put_contact),
        route("PATCH", "/contacts/{number}", api.patch_contact),
        route("GET", "/contacts/{number}/messages", api.conversation),
        route("GET", "/personas", api.list_personas),
        route("GET", "/personas/{name}", api.get_persona),
        route("PUT", "/personas/{name}", api.put_persona),
        route("GET", "/scheduled", api.list_scheduled),
    ]


# The OpenAPI document: paths written out here, schemas generated from the models above.

REF = "#/components/schemas/{model}"
_REQUESTS: tuple[type[BaseModel], ...] = (SendRequest, ContactFields, PersonaFields)
_RESPONSES: tuple[type[BaseModel], ...] = (
    ApiErrorBody,
    SentMessage,
    ContactView,
    ContactList,
    Conversation,
    PersonaView,
    PersonaList,
    ScheduledList,
)


def _content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": _content(schema)}


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the API: what /api/v1/openapi.json serves."""
    names, definitions = models_json_schema(
        [(model, "validation") for model in _REQUESTS] + [(model, "serialization") for model in _RESPONSES],
        ref_template=REF,
    )

    def request(model: type[BaseModel]) -> dict[str, Any]:
        return dict(names[(model, "validation")])

    def reply(model: type[BaseModel]) -> dict[str, Any]:
        return dict(names[(model, "serialization")])

    error = reply(ApiErrorBody)
    common = {
        "401": _response("no token, or a wrong one", error),
        "503": _response("the database (or WhatsApp) is not answering; try again later", error),
    }
    refused = {
        "400": _response("a bad parameter, or a body that is not JSON", error),
        **common,
    }
    with_body = {
        **refused,
        "413": _response(f"the body is larger than {MAX_BODY_BYTES} bytes", error),
        "415": _response("the body is not application/json", error),
        "422": _response("the body is JSON, but not what the operation takes (the details say where)", error),
    }
    number = {
        "name": "number",
        "in": "path",
        "required": True,
        "description": "the contact's phone number with country code",
        "schema": {"type": "string", "pattern": NUMBER_REGEX},
    }
    name = {
        "name": "name",
        "in": "path",
        "required": True,
        "description": "the persona's id (its file name without .toml)",
        "schema": {"type": "string", "pattern": NAME_REGEX},
    }
    limit = {
        "name": "limit",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
    }
    not_found = {"404": _response("no such contact or persona", error)}

    def body(model: type[BaseModel]) -> dict[str, Any]:
        return {"required": True, "content": _content(request(model))}

    paths: dict[str, Any] = {
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document",
                "responses": {"200": {"description": "the OpenAPI document", "content": _content({"type": "object"})}}
                | common,
            }
        },
        "/messages": {
            "post": {
                "operationId": "sendMessage",
                "summary": "Send a text to a contact who wrote before (to any number with API_SEND_ANY_NUMBER=true)",
                "requestBody": body(SendRequest),
                "responses": {
                    "201": _response("sent: WhatsApp accepted it", reply(SentMessage)),
                    "403": _response("the number never wrote, or the contact is blocked for the bot", error),
                    "504": _response("WhatsApp did not confirm it in time; it may still go out", error),
                }
                | with_body,
            }
        },
        "/contacts": {
            "get": {
                "operationId": "listContacts",
                "summary": "Every contact, by chat id",
                "parameters": [
                    {"name": "tag", "in": "query", "required": False, "schema": {"type": "string"}},
                    {
                        "name": "relationship",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "enum": [item.value for item in Relationship]},
                    },
                ],
                "responses": {"200": _response("the contacts", reply(ContactList))} | refused,
            }
        },
        "/contacts/{number}": {
            "parameters": [number],
            "get": {
                "operationId": "getContact",
                "summary": "One contact",
                "responses": {"200": _response("the contact", reply(ContactView))} | not_found | refused,
            },
            "put": {
                "operationId": "putContact",
                "summary": "Create a contact or set all its operator's fields (those left out get their defaults)",
                "requestBody": body(ContactFields),
                "responses": {
                    "200": _response("updated", reply(ContactView)),
                    "201": _response("created", reply(ContactView)),
                }
                | with_body,
            },
            "patch": {
                "operationId": "patchContact",
                "summary": "Change some operator's fields of a contact (null clears a text field)",
                "requestBody": body(ContactFields),
                "responses": {"200": _response("updated", reply(ContactView))} | not_found | with_body,
            },
        },
        "/contacts/{number}/messages": {
            "parameters": [number],
            "get": {
                "operationId": "getConversation",
                "summary": "The contact's newest messages, both ways, oldest first",
                "parameters": [limit],
                "responses": {"200": _response("the conversation", reply(Conversation))} | not_found | refused,
            },
        },
        "/personas": {
            "get": {
                "operationId": "listPersonas",
                "summary": "Every stored persona",
                "responses": {"200": _response("the personas", reply(PersonaList))} | common,
            }
        },
        "/personas/{name}": {
            "parameters": [name],
            "get": {
                "operationId": "getPersona",
                "summary": "One persona",
                "responses": {"200": _response("the persona", reply(PersonaView))} | not_found | refused,
            },
            "put": {
                "operationId": "putPersona",
                "summary": "Create or replace a persona (not one loaded from a persona file)",
                "requestBody": body(PersonaFields),
                "responses": {
                    "200": _response("replaced", reply(PersonaView)),
                    "201": _response("created", reply(PersonaView)),
                    "409": _response("the persona comes from a persona file: edit the file", error),
                }
                | with_body,
            },
        },
        "/scheduled": {
            "get": {
                "operationId": "listScheduled",
                "summary": "Scheduled messages still to be sent (all, with include_done=true), soonest first",
                "parameters": [
                    {"name": "include_done", "in": "query", "required": False, "schema": {"type": "boolean"}}
                ],
                "responses": {"200": _response("the scheduled messages", reply(ScheduledList))} | refused,
            }
        },
    }
    for item in paths.values():
        for method, operation in item.items():
            if method != "parameters":
                operation["security"] = [{"bearer": []}]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "WhatsApp bot API",
            "version": "1",
            "description": "Integrations' API of the WhatsApp bot daemon. Every operation needs the token "
            "(Authorization: Bearer <token>): STATUS_TOKEN, or the one the daemon logs at start-up.",
        },
        "paths": {PREFIX + path: item for path, item in paths.items()},
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
