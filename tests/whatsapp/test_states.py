"""How the page's report (wa-js) maps onto connection states; "connected" must mean that messages can flow."""

from __future__ import annotations

from typing import Any

import pytest

from bot.whatsapp.states import ConnectionState, PageStatus, state_of

LINKED = {"authenticated": True, "mainReady": True, "mode": "MAIN", "online": True}
QR_SCREEN = {"authenticated": False, "mainReady": False, "mode": "QR", "hasAuthCode": True}


def state(report: dict[str, Any]) -> ConnectionState:
    return state_of(PageStatus.model_validate(report))[0]


def test_connected_needs_authenticated_main_ready_and_main_stream() -> None:
    assert state(LINKED) is ConnectionState.CONNECTED


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # wa-js 4.6.0 fires main-ready on the first QR mode too: that is a login screen, not a connection.
        ({"authenticated": False, "mode": "QR", "hasAuthCode": True}, ConnectionState.NEEDS_LOGIN),
        ({"mainReady": False}, ConnectionState.SYNCING),
        ({"mode": "SYNCING"}, ConnectionState.SYNCING),
        ({"mode": "OFFLINE", "online": False}, ConnectionState.OFFLINE),
        ({"online": False}, ConnectionState.OFFLINE),
        ({"mode": "CONFLICT"}, ConnectionState.CONFLICT),
        ({"mode": "TOS_BLOCK"}, ConnectionState.BLOCKED),
        ({"mode": "SMB_TOS_BLOCK"}, ConnectionState.BLOCKED),
        ({"mode": "PROXYBLOCK"}, ConnectionState.BLOCKED),
        ({"mode": "DEPRECATED_VERSION"}, ConnectionState.OUTDATED),
        ({"mode": None}, ConnectionState.SYNCING),
    ],
)
def test_anything_less_is_not_connected(change: dict[str, Any], expected: ConnectionState) -> None:
    assert state(LINKED | change) is expected


def test_the_login_screen_needs_a_code_or_an_idle_qr() -> None:
    assert state(QR_SCREEN) is ConnectionState.NEEDS_LOGIN
    assert state(QR_SCREEN | {"hasAuthCode": False, "idle": True}) is ConnectionState.NEEDS_LOGIN
    # The QR screen before its first code: still loading, nothing to show the operator yet.
    assert state(QR_SCREEN | {"hasAuthCode": False}) is ConnectionState.LOADING
    assert state({"authenticated": False, "mode": None}) is ConnectionState.LOADING


def test_blocks_win_over_everything_else() -> None:
    assert state(QR_SCREEN | {"mode": "TOS_BLOCK"}) is ConnectionState.BLOCKED
    assert state(LINKED | {"mode": "DEPRECATED_VERSION", "online": False}) is ConnectionState.OUTDATED


def test_every_state_has_a_reason_for_the_log() -> None:
    for report in (LINKED, QR_SCREEN, LINKED | {"mode": "OFFLINE"}, LINKED | {"mode": "CONFLICT"}):
        _, reason = state_of(PageStatus.model_validate(report))
        assert reason
