"""The QR screen of a page that is not linked yet: rotating codes, going idle, pairing codes."""

from __future__ import annotations

from dataclasses import dataclass

from bot.simulator.ids import AuthCode, new_link_code


@dataclass
class QrScreen:
    """What an unlinked page shows. `gen` changes whenever the rotation timer must start over."""

    auth_code: AuthCode | None
    idle: bool = False
    rotations: int = 0
    gen: int = 0
    link_code: str | None = None
    link_phone: str | None = None

    @classmethod
    def new(cls) -> QrScreen:
        return cls(auth_code=AuthCode.new())

    def shows(self, ref: str) -> bool:
        """True while this screen shows that ref (or fullCode); an idle screen shows none."""
        code = self.auth_code
        return not self.idle and code is not None and ref in (code.ref, code.full_code)

    def rotate(self, *, automatic: bool) -> AuthCode:
        """A new ref with the same keys, as the real site does every ~20 s; only automatic ones count to idle."""
        base = self.auth_code or AuthCode.new()
        self.auth_code = base.rotated()
        if automatic:
            self.rotations += 1
        return self.auth_code

    def go_idle(self) -> None:
        """'Click to reload QR code': no code on screen, rotation stops."""
        self.idle = True
        self.auth_code = None
        self.gen += 1

    def refresh(self) -> AuthCode:
        """WPP.conn.refreshQR (or the click): a new code now, rotation and its count start over."""
        self.idle = False
        self.rotations = 0
        self.gen += 1
        return self.rotate(automatic=False)

    def new_link_code(self, phone: str) -> str:
        """WPP.conn.genLinkDeviceCodeForPhoneNumber: a pairing code bound to that phone number."""
        self.link_code = new_link_code()
        self.link_phone = phone
        return self.link_code
