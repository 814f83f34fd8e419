"""Connection faults as the bot's supervisor meets them on the real site, in real headless Chromium."""

from __future__ import annotations

import re
import time
from typing import Any

import aiohttp

from bot.simulator import Simulator

ANA = "15551234567"
ANA_WID = f"{ANA}@c.us"
STREAM_JS = "() => [WPP.conn.getStreamData(), WPP.conn.isOnline(), WPP.whatsapp.Socket.state]"
SEND_JS = f"() => WPP.chat.sendTextMessage('{ANA_WID}', 'x')"


async def _linked(open_page, call_api, **kwargs: Any) -> Any:
    wa = await open_page(**kwargs)
    await call_api("POST", "api/link")
    await wa.log.wait_count("conn.main_ready")
    return wa


async def _barrier(wa: Any, call_api, text: str) -> None:
    """Post a message and wait for its event: everything the page was told before it has been emitted."""
    await call_api("POST", "api/messages", {"from": ANA, "text": text})
    await wa.log.wait_for(lambda _: text in [m["body"] for m in wa.log.payloads("chat.new_message")])


async def test_stream_states_show_as_wa_js_reports_them(open_page, call_api) -> None:
    wa = await _linked(open_page, call_api)

    await call_api("POST", "api/state", {"state": "SYNCING"})
    await wa.wait_mode("SYNCING")
    assert await wa.js(STREAM_JS) == [{"mode": "SYNCING", "info": "SYNCING"}, True, "CONNECTED"]
    error = await wa.rejection(SEND_JS)
    assert error is not None and "cannot send: the stream is SYNCING" in error["message"]
    await _barrier(wa, call_api, "still delivered while syncing")

    await call_api("POST", "api/state", {"state": "OPENING"})
    await wa.wait_mode("OFFLINE")
    assert await wa.js(STREAM_JS) == [{"mode": "OFFLINE", "info": "OPENING"}, False, "OPENING"]
    await call_api("POST", "api/state", {"state": "TIMEOUT"})
    await wa.log.wait_for(lambda _: wa.log.payloads("conn.stream_info_changed")[-1:] == ["CONNECTING"])
    assert await wa.js(STREAM_JS) == [{"mode": "OFFLINE", "info": "CONNECTING"}, False, "TIMEOUT"]

    await call_api("POST", "api/state", {"state": "PAIRING"})
    await wa.wait_mode("SYNCING", 2)
    assert await wa.js(STREAM_JS) == [{"mode": "SYNCING", "info": "PAIRING"}, True, "PAIRING"]

    for state in ("TOS_BLOCK", "SMB_TOS_BLOCK", "PROXYBLOCK", "DEPRECATED_VERSION"):
        await call_api("POST", "api/state", {"state": state})
        await wa.wait_mode(state)
        error = await wa.rejection(SEND_JS)
        assert error is not None and state in error["message"]

    await call_api("POST", "api/state", {"state": "CONNECTED"})
    await wa.wait_mode("MAIN", 2)
    assert await wa.js(STREAM_JS) == [{"mode": "MAIN", "info": "NORMAL"}, True, "CONNECTED"]
    assert wa.log.payloads("conn.main_ready") == [None]  # once per page load


async def test_back_from_offline_passes_through_syncing(browser, http: aiohttp.ClientSession, open_page) -> None:
    async with Simulator(sync_ms=300) as sim:

        async def call(path: str, body: Any = None) -> Any:
            async with http.post(sim.base_url + path, json=body) as response:
                assert response.status == 200
                return await response.json()

        wa = await open_page(sim=sim)
        linked_at = time.monotonic()
        await call("api/link")
        await wa.log.wait_count("conn.main_ready")
        assert time.monotonic() - linked_at >= 0.3
        assert wa.modes() == ["QR", "SYNCING", "MAIN"]

        await call("api/state", {"state": "OFFLINE"})
        await wa.wait_mode("OFFLINE")
        await call("api/state", {"state": "CONNECTED"})
        await wa.wait_mode("MAIN", 2)
        assert wa.modes()[-3:] == ["OFFLINE", "SYNCING", "MAIN"]
        assert "RESUMING" in wa.log.payloads("conn.stream_info_changed")
        assert len(wa.log.payloads("conn.main_ready")) == 1


async def test_main_ready_never_comes(open_page, call_api) -> None:
    assert await call_api("POST", "api/main-ready", {"mode": "never"}) == {"mode": "never", "delay_ms": 0}
    wa = await open_page()
    await call_api("POST", "api/link")
    await wa.log.wait_count("conn.authenticated")
    await wa.wait_mode("SYNCING")
    await call_api("POST", "api/messages", {"from": ANA, "text": "nobody will see this as an event"})
    # The page stores it (the UI draws the store), but emits nothing and stays in SYNCING.
    await wa.page.locator(".chat-last", has_text="nobody will see this").wait_for(timeout=5000)
    assert await wa.js("() => [WPP.conn.isAuthenticated(), WPP.conn.isMainReady()]") == [True, False]
    assert wa.log.payloads("chat.new_message") == [] and wa.log.payloads("conn.main_ready") == []
    error = await wa.rejection(SEND_JS)
    assert error is not None and "SYNCING" in error["message"]
    [page] = (await call_api("GET", "api/status"))["pages"]
    assert page["stage"] == "syncing" and page["main_ready_mode"] == "never" and page["main_ready"] is False

    # A reload under the normal setting gets there.
    await call_api("POST", "api/main-ready", {})
    async with wa.page.expect_navigation(timeout=5000):
        await call_api("POST", "api/page/reload")
    await wa.log.wait_count("conn.main_ready")


async def test_main_ready_before_auth_as_wa_js_really_does(open_page, call_api) -> None:
    await call_api("POST", "api/main-ready", {"mode": "before-auth"})
    wa = await open_page()
    await wa.log.wait_count("conn.main_ready")
    assert wa.modes() == ["QR"] and "conn.authenticated" not in wa.log.names()
    assert await wa.js("() => [WPP.conn.isMainReady(), WPP.conn.isAuthenticated()]") == [True, False]
    assert (await wa.js("() => WPP.conn.getAuthCode()"))["type"] == "multidevice"

    await call_api("POST", "api/link")
    await wa.wait_mode("MAIN")
    await _barrier(wa, call_api, "after linking")
    assert len(wa.log.payloads("conn.main_ready")) == 1  # emitted once per page load, on the QR screen


async def test_main_ready_delay_keeps_the_page_syncing(open_page, call_api) -> None:
    await call_api("POST", "api/main-ready", {"mode": "normal", "delay_ms": 400})
    wa = await open_page()
    linked_at = time.monotonic()
    await call_api("POST", "api/link")
    await wa.log.wait_count("conn.main_ready")
    assert time.monotonic() - linked_at >= 0.4
    # Event order, not a clock read under load: SYNCING first, main-ready only with MAIN, after the delay.
    events = [
        (name, payload) for name, payload in wa.log.events if name in ("conn.stream_mode_changed", "conn.main_ready")
    ]
    syncing = events.index(("conn.stream_mode_changed", "SYNCING"))
    assert events[syncing + 1 :] == [("conn.stream_mode_changed", "MAIN"), ("conn.main_ready", None)], events


async def test_page_reload_drops_whatever_was_injected(open_page, call_api) -> None:
    wa = await _linked(open_page, call_api)
    await wa.js("() => { window.__injected = true; }")
    async with wa.page.expect_navigation(timeout=5000):
        assert await call_api("POST", "api/page/reload") == {"reloaded": 1}
    await wa.ready()
    await wa.log.wait_count("conn.main_ready", 2)
    assert await wa.js("() => typeof window.__injected") == "undefined"
    assert len([c for c in wa.log.payloads("conn.auth_code_change") if c]) == 1  # still linked: no new QR


async def test_qr_rotate_idle_and_refresh(open_page, call_api, http: aiohttp.ClientSession, simulator) -> None:
    wa = await open_page()
    await call_api("POST", "api/qr/rotate")
    await wa.log.wait_count("conn.auth_code_change", 2)
    first, second = wa.log.payloads("conn.auth_code_change")
    assert first["ref"] != second["ref"] and first["secretKey"] == second["secretKey"]

    await call_api("POST", "api/qr/idle")
    await wa.log.wait_count("conn.qrcode_idle")
    assert wa.log.names()[-2:] == ["conn.auth_code_change", "conn.qrcode_idle"]
    assert wa.log.payloads("conn.auth_code_change")[-1] is None
    assert await wa.js("() => [WPP.conn.isIdle(), WPP.whatsapp.Socket.state]") == [True, "UNPAIRED_IDLE"]
    assert await wa.js("() => WPP.conn.getAuthCode()") is None
    await wa.page.locator("#qr-idle", has_text="Click to reload QR code").wait_for(timeout=5000)
    assert (await call_api("GET", "api/status"))["pages"][0]["idle"] is True
    async with http.post(simulator.base_url + "api/link", json={}) as response:
        assert response.status == 409 and "idle" in (await response.json())["error"]

    code = await wa.js("() => WPP.conn.refreshQR()")
    assert code["type"] == "multidevice" and code["ref"] not in (first["ref"], second["ref"])
    assert wa.log.payloads("conn.auth_code_change")[-1] == code
    assert await wa.js("() => WPP.conn.isIdle()") is False
    await wa.page.locator("#qr").wait_for(state="visible", timeout=5000)
    await call_api("POST", "api/link", {"ref": code["ref"]})
    await wa.log.wait_count("conn.main_ready")
    assert await wa.js("() => WPP.conn.refreshQR()") is None  # authenticated: nothing to refresh


async def test_qr_goes_idle_by_itself_after_its_rotations(open_page) -> None:
    async with Simulator(qr_refresh_s=0.05, qr_rotations_before_idle=3) as sim:
        wa = await open_page(sim=sim)
        await wa.log.wait_count("conn.qrcode_idle")
        codes = wa.log.payloads("conn.auth_code_change")
        assert [code is None for code in codes] == [False, False, False, False, True]
        assert await wa.js("() => WPP.conn.isIdle()") is True
        # Clicking the idle QR reloads it, and rotation starts over: idle again after three more.
        await wa.page.locator("#qr-idle").click()
        await wa.log.wait_count("conn.qrcode_idle", 2)
        assert len([code for code in wa.log.payloads("conn.auth_code_change") if code]) == 8


async def test_pairing_code_links_the_page(open_page, call_api) -> None:
    wa = await open_page()
    code = await wa.js("() => WPP.conn.genLinkDeviceCodeForPhoneNumber('+15550000000')")
    assert re.fullmatch(r"[A-Z0-9]{8}", code)
    await wa.page.locator("#link-code", has_text=f"{code[:4]}-{code[4:]}").wait_for(timeout=5000)
    error = await wa.rejection("() => WPP.conn.genLinkDeviceCodeForPhoneNumber('call me')")
    assert error is not None and "phone number" in error["message"]
    error = await wa.rejection("() => WPP.conn.genLinkDeviceCodeForPhoneNumber()")
    assert error is not None and error["code"] == "send_the_phone_number_to_connect"

    await call_api("POST", "api/link", {"code": f"{code[:4].lower()}-{code[4:]}"})
    await wa.log.wait_count("conn.main_ready")
    assert await wa.js("() => WPP.conn.isAuthenticated()") is True
    error = await wa.rejection("() => WPP.conn.genLinkDeviceCodeForPhoneNumber('15550000000', false)")
    assert error is not None and error["code"] == "cannot_get_code_for_already_authenticated"


async def test_socket_takeover_is_use_here(open_page, call_api) -> None:
    first = await _linked(open_page, call_api)
    second = await open_page(first.context)
    await second.log.wait_count("conn.main_ready")
    await first.wait_mode("CONFLICT")
    assert await first.js("() => WPP.whatsapp.Socket.state") == "CONFLICT"
    error = await second.rejection("() => WPP.whatsapp.Socket.takeover()")
    assert error is not None and "CONFLICT" in error["message"]

    await call_api("POST", "api/messages", {"from": ANA, "text": "while the first tab was pushed out"})
    await second.log.wait_count("chat.new_message")
    assert await first.js("() => WPP.whatsapp.Socket.takeover()") is True
    await second.wait_mode("CONFLICT")
    await first.wait_mode("MAIN", 2)
    # What it missed is in its store now, without an event.
    assert first.log.payloads("chat.new_message") == []
    assert await first.js("() => WPP.chat.list().then((chats) => chats.map((c) => c.unreadCount))") == [1]

    # When the whole account was in CONFLICT, taking over reconnects it.
    await call_api("POST", "api/state", {"state": "CONFLICT"})
    await first.wait_mode("CONFLICT")
    await first.js("() => WPP.whatsapp.Socket.takeover()")
    await first.wait_mode("MAIN", 3)
    assert (await call_api("GET", "api/status"))["state"] == "CONNECTED"
