"""The bytes behind a media message: what `WPP.chat.downloadMedia` gives back, as WhatsApp's servers keep them.

A contact's image without given bytes gets a small real PNG, so downloading an image always yields a picture a
model (or a person) can open; other media without given bytes get a short placeholder of their usual type.
"""

from __future__ import annotations

import base64
import hashlib
import struct
import zlib
from dataclasses import dataclass
from functools import cache

# Types whose MsgModel has mediaData (downloadable bytes); a location or a contact card has none, as on the real
# site, so wa-js's downloadMedia rejects them with message_not_contains_media.
DOWNLOADABLE_TYPES = frozenset({"image", "video", "audio", "ptt", "document", "sticker"})
# What WhatsApp's own clients send for each type when nothing else is known.
DEFAULT_MIMETYPES = {
    "image": "image/jpeg",
    "video": "video/mp4",
    "audio": "audio/mpeg",
    "ptt": "audio/ogg; codecs=opus",
    "document": "application/pdf",
    "sticker": "image/webp",
}
# Magic numbers of the image formats a caller is likely to post without naming a mimetype.
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


@dataclass(frozen=True)
class Media:
    """The bytes of one media message and their type."""

    data: bytes
    mimetype: str

    @property
    def filehash(self) -> str:
        """MediaData.filehash: base64 of the SHA-256 of the bytes, as WhatsApp names media in its caches."""
        return base64.b64encode(hashlib.sha256(self.data).digest()).decode("ascii")


@cache
def tiny_png() -> bytes:
    """An 8x8 opaque PNG (WhatsApp green), built here so it is a real, decodable image."""
    width = height = 8
    row = b"\x00" + bytes((0x25, 0xD3, 0x66)) * width  # filter byte, then RGB pixels
    raw = row * height

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def default_media(kind: str) -> Media | None:
    """What a message of `kind` sent without bytes carries; None for types without downloadable media."""
    if kind not in DOWNLOADABLE_TYPES:
        return None
    if kind == "image":
        return Media(tiny_png(), "image/png")
    return Media(f"simulated {kind}: placeholder bytes, not a playable file".encode(), DEFAULT_MIMETYPES[kind])


def guess_mimetype(data: bytes, kind: str) -> str:
    """The mimetype of posted bytes that came without one: from their signature, else the type's usual one."""
    for signature, mimetype in _SIGNATURES:
        if data.startswith(signature):
            return mimetype
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return DEFAULT_MIMETYPES.get(kind, "application/octet-stream")
