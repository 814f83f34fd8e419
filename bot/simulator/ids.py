"""WhatsApp identifiers as wa-js spells them: Wids, message ids, serialized MsgKeys, link tokens and auth codes."""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass, replace

CONTACT_SERVER = "c.us"
GROUP_SERVER = "g.us"
STATUS_BROADCAST = "status@broadcast"

_CONTACT_RE = re.compile(r"^\d{1,24}$")
_GROUP_RE = re.compile(r"^\d{1,24}-\d{1,24}$")


def contact_wid(number: str) -> str:
    """The chat id of a person: digits@c.us."""
    return f"{number}@{CONTACT_SERVER}"


def group_wid(group: str) -> str:
    """The chat id of a group: digits-digits@g.us."""
    return f"{group}@{GROUP_SERVER}"


def user_of(wid: str) -> str:
    """The part before the @ (the phone number for a contact)."""
    return wid.split("@", 1)[0]


def is_group(wid: str) -> bool:
    """True for group chat ids."""
    return wid.endswith("@" + GROUP_SERVER)


def normalise_number(raw: object) -> str | None:
    """Digits of a phone number given as digits, +digits or digits@c.us; None when it is not one."""
    if isinstance(raw, int) and not isinstance(raw, bool) and raw > 0:
        raw = str(raw)
    if not isinstance(raw, str):
        return None
    text = raw.strip().removeprefix("+").removesuffix("@" + CONTACT_SERVER)
    return text if _CONTACT_RE.match(text) else None


def normalise_group(raw: object) -> str | None:
    """Group part (digits-digits) of a group id given with or without @g.us; None when it is not one."""
    if not isinstance(raw, str):
        return None
    text = raw.strip().removesuffix("@" + GROUP_SERVER)
    return text if _GROUP_RE.match(text) else None


def normalise_chat_id(raw: object) -> str | None:
    """A chat id as wa-js accepts it (digits, digits@c.us, digits@s.whatsapp.net, group ids); None if invalid."""
    if not isinstance(raw, str):
        return None
    text = raw.strip().replace("@s.whatsapp.net", "@" + CONTACT_SERVER)
    if text == STATUS_BROADCAST:
        return text
    if number := normalise_number(text):
        return contact_wid(number)
    if group := normalise_group(text):
        return group_wid(group)
    return None


def new_message_id() -> str:
    """A 20-character upper-case hex id shaped like the ones WhatsApp Web generates (3EB0...)."""
    return "3EB0" + secrets.token_hex(8).upper()


def serialize_key(from_me: bool, remote: str, msg_id: str, participant: str | None = None) -> str:
    """MsgKey._serialized: fromMe_remote_id, plus _participant in groups and status broadcasts."""
    key = f"{'true' if from_me else 'false'}_{remote}_{msg_id}"
    return f"{key}_{participant}" if participant else key


def new_link_token() -> str:
    """The secret a linked page keeps in IndexedDB (as the real site keeps its keys) to come back without a QR."""
    return secrets.token_urlsafe(24)


# WhatsApp's pairing codes avoid look-alike characters (no 0, I, O or U).
LINK_CODE_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTVWXYZ"
LINK_CODE_LENGTH = 8
_LINK_CODE_RE = re.compile(r"^[A-Z0-9]{8}$")


def new_link_code() -> str:
    """An 8-character pairing code, as WhatsApp shows it for "Link with phone number" (without the dash)."""
    return "".join(secrets.choice(LINK_CODE_ALPHABET) for _ in range(LINK_CODE_LENGTH))


def normalise_link_code(raw: object) -> str | None:
    """A pairing code as a person types it (ABCD-EFGH, abcdefgh) in canonical form; None when it is not one."""
    if not isinstance(raw, str):
        return None
    text = raw.strip().replace("-", "").replace(" ", "").upper()
    return text if _LINK_CODE_RE.match(text) else None


def _b64(size: int) -> str:
    return base64.b64encode(secrets.token_bytes(size)).decode("ascii")


@dataclass(frozen=True)
class AuthCode:
    """wa-js AuthCodeMultiDevice: what the QR encodes."""

    ref: str
    static_key_pair: str
    identity_key_pair: str
    secret_key: str

    @classmethod
    def new(cls) -> AuthCode:
        """Fresh keys and ref, as on a newly opened QR screen."""
        return cls(ref=_new_ref(), static_key_pair=_b64(32), identity_key_pair=_b64(32), secret_key=_b64(32))

    def rotated(self) -> AuthCode:
        """Same keys with a new ref: what the real site does every ~20 s on the QR screen."""
        return replace(self, ref=_new_ref())

    @property
    def full_code(self) -> str:
        return ",".join((self.ref, self.static_key_pair, self.identity_key_pair, self.secret_key))

    def to_wire(self) -> dict[str, str]:
        """The wa-js AuthCode object."""
        return {
            "type": "multidevice",
            "ref": self.ref,
            "staticKeyPair": self.static_key_pair,
            "identityKeyPair": self.identity_key_pair,
            "secretKey": self.secret_key,
            "fullCode": self.full_code,
        }


def _new_ref() -> str:
    return "2@" + _b64(48)
