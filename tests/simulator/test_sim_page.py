"""The fake WhatsApp Web in real headless Chromium: WPP's shape, linking, messages, reload, conflict, logout."""

from __future__ import annotations

import re
import time

import aiohttp

from bot.simulator import Simulator
from bot.simulator.server import CSP

MSG_ID_RE = re.compile(r"^[0-9A-F]{20}$")
ANA = "15551234567"
ANA_WID = f"{ANA}@c.us"


async def test_wpp_surface_and_qr_screen(open_page, http: aiohttp.ClientSession, simulator: Simulator) -> None:
    wa = await open_page()
    shape = await wa.js(
        """() => ({
        version: WPP.version, injected: WPP.isInjected, ready: WPP.isReady, fullReady: WPP.isFullReady,
        fns: ['on', 'off', 'once', 'loader.onReady', 'loader.onInjected', 'loader.onFullReady',
              'conn.isAuthenticated', 'conn.isMainReady', 'conn.getAuthCode', 'conn.logout', 'conn.isIdle',
              'conn.isOnline', 'conn.getStreamData', 'conn.refreshQR', 'conn.genLinkDeviceCodeForPhoneNumber',
              'chat.sendTextMessage', 'chat.markIsRead', 'chat.markIsComposing', 'chat.list', 'chat.getMessages',
              'chat.getMessageById', 'whatsapp.Socket.takeover']
            .filter((path) => typeof path.split('.').reduce((o, k) => o[k], WPP) !== 'function'),
        authenticated: WPP.conn.isAuthenticated(), mainReady: WPP.conn.isMainReady(),
        mainInit: WPP.conn.isMainInit(), stream: WPP.conn.getStreamData(), socket: WPP.whatsapp.Socket.state,
        })"""
    )
    assert shape == {
        "version": "simulator-1",
        "injected": True,
        "ready": True,
        "fullReady": True,
        "fns": [],
        "authenticated": False,
        "mainReady": False,
        "mainInit": True,
        "stream": {"mode": "QR", "info": "NORMAL"},
        "socket": "UNPAIRED",
    }
    assert await wa.js("() => new Promise((resolve) => WPP.loader.onFullReady(() => resolve('now')))") == "now"

    code = await wa.js("() => WPP.conn.getAuthCode()")
    assert code["type"] == "multidevice"
    assert code["fullCode"] == ",".join(
        [code["ref"], code["staticKeyPair"], code["identityKeyPair"], code["secretKey"]]
    )
    assert wa.log.payloads("conn.stream_mode_changed") == ["QR"]
    assert wa.log.payloads("conn.auth_code_change") == [code]
    assert await wa.js("() => WPP.chat.list()") == []  # a page on the QR screen knows no chats

    qr = wa.page.locator("#qr")
    await qr.wait_for(state="visible", timeout=5000)
    src = await qr.get_attribute("src")
    assert src is not None and src.startswith("/qr.svg?code=")
    async with http.get(simulator.base_url + src.lstrip("/")) as response:
        assert response.headers["Content-Type"].startswith("image/svg+xml")
        assert "<svg" in await response.text()
    assert await wa.js("() => document.querySelector('#qr').naturalWidth") > 0


async def test_page_is_served_with_whatsapp_like_csp(http: aiohttp.ClientSession, simulator: Simulator) -> None:
    for path in ("", "phone", "static/wpp.js"):
        async with http.get(simulator.base_url + path) as response:
            assert response.status == 200
            assert response.headers["Content-Security-Policy"] == CSP


async def test_link_authenticates_then_main_ready(open_page, call_api) -> None:
    wa = await open_page()
    assert await call_api("POST", "api/link") == {"linked": True}
    await wa.log.wait_count("conn.main_ready")
    names = wa.log.names()
    assert names.index("conn.authenticated") < names.index("conn.main_ready")
    assert wa.modes() == ["QR", "SYNCING", "MAIN"]
    assert wa.log.payloads("conn.stream_info_changed") == ["NORMAL", "SYNCING", "NORMAL"]
    assert wa.log.payloads("conn.auth_code_change")[-1] is None
    assert await wa.js("() => [WPP.conn.isAuthenticated(), WPP.conn.isMainReady()]") == [True, True]
    assert await wa.js("() => WPP.conn.getAuthCode()") is None
    assert await wa.js("() => [WPP.conn.getStreamData(), WPP.whatsapp.Socket.state]") == [
        {"mode": "MAIN", "info": "NORMAL"},
        "CONNECTED",
    ]
    # The token is in IndexedDB (committed before conn.authenticated was emitted), not in localStorage.
    assert await wa.stored_token()
    assert await wa.js("() => localStorage.length") == 0
    await wa.page.locator("#main-screen").wait_for(state="visible", timeout=5000)
    status = await call_api("GET", "api/status")
    assert status["linked"] is True and status["ready_pages"] == 1 and status["qr_pages"] == 0


async def test_incoming_message_has_wa_js_shape(open_page, call_api) -> None:
    wa = await open_page()
    await call_api("POST", "api/link")
    posted = await call_api("POST", "api/messages", {"from": ANA, "text": "hi", "name": "Ana"})
    [msg] = await wa.log.wait_count("chat.new_message")

    assert posted["id"] == msg["id"]["_serialized"]
    assert MSG_ID_RE.match(msg["id"]["id"])
    assert msg["id"]["_serialized"] == f"false_{ANA_WID}_{msg['id']['id']}"
    assert msg["id"]["fromMe"] is False
    assert msg["id"]["remote"] == {"server": "c.us", "user": ANA, "_serialized": ANA_WID}
    assert msg["from"]["_serialized"] == ANA_WID
    assert msg["to"]["_serialized"] == "15550000000@c.us"
    assert msg["body"] == "hi" and msg["type"] == "chat" and msg["self"] == "in"
    assert msg["notifyName"] == "Ana" and msg["isNewMsg"] is True
    assert msg["isGroupMsg"] is False and msg["isStatusV3"] is False
    assert abs(msg["t"] - time.time()) < 60 and isinstance(msg["t"], int)

    # The live objects have Wid and MsgKey methods, like wa-js.
    await wa.js(
        """() => { window.__next = new Promise((resolve) => WPP.once('chat.new_message', (m) => resolve({
            user: m.from.isUser(), group: m.from.isGroup(), chat: String(m.from), key: m.id.toString(),
            participant: m.id.participant ? m.id.participant.toString() : null,
            author: m.author ? m.author._serialized : null, json: JSON.parse(JSON.stringify(m)).id._serialized,
        }))); }"""
    )
    await call_api("POST", "api/messages", {"from": "15557654321", "text": "in a group", "name": "Bo", "group": True})
    live = await wa.js("() => window.__next")
    assert live["group"] is True and live["user"] is False and live["chat"].endswith("@g.us")
    assert live["participant"] == live["author"] == "15557654321@c.us"
    assert live["key"] == live["json"]
    assert live["key"] == f"false_{live['chat']}_{live['key'].split('_')[2]}_15557654321@c.us"


async def test_status_post_and_own_phone_message(open_page, call_api) -> None:
    wa = await open_page()
    await call_api("POST", "api/link")
    await call_api("POST", "api/messages", {"from": ANA, "text": "my story", "broadcast": True})
    await call_api("POST", "api/messages", {"from_me": True, "to": ANA, "text": "typed on the phone"})
    status, own = await wa.log.wait_count("chat.new_message", 2)
    assert status["isStatusV3"] is True and status["from"]["_serialized"] == "status@broadcast"
    assert status["author"]["_serialized"] == ANA_WID
    assert own["id"]["fromMe"] is True and own["self"] == "out" and own["to"]["_serialized"] == ANA_WID


async def test_send_text_is_logged_and_echoed_as_own_message(open_page, call_api) -> None:
    wa = await open_page()
    await call_api("POST", "api/link")
    await wa.log.wait_count("conn.main_ready")
    result = await wa.js("() => WPP.chat.sendTextMessage('15551234567@c.us', 'hello Ana')")
    assert result["ack"] == 1
    assert result["from"] == "15550000000@c.us" and result["to"] == ANA_WID
    assert result["sendMsgResult"] == {"messageSendResult": "OK"}
    assert MSG_ID_RE.match(result["id"].split("_")[2])

    [own] = await wa.log.wait_count("chat.new_message")
    assert own["id"]["_serialized"] == result["id"] and own["id"]["fromMe"] is True and own["body"] == "hello Ana"
    [ack] = await wa.log.wait_count("chat.msg_ack_change")
    assert ack["ack"] == 2 and ack["chat"]["_serialized"] == ANA_WID
    assert [key["_serialized"] for key in ack["ids"]] == [result["id"]]

    sent = await call_api("GET", f"api/sent?to={ANA}")
    assert [(s["id"], s["to"], s["text"], s["ack"]) for s in sent] == [(result["id"], ANA, "hello Ana", 2)]
    assert isinstance(sent[0]["time"], float)
    assert await call_api("GET", "api/sent?to=15559999999") == []

    # options.messageId is honoured, and sending the same id again does not send twice.
    custom = "() => WPP.chat.sendTextMessage({_serialized: '15551234567@c.us'}, 'again', {messageId: 'ABC123'})"
    first, second = await wa.js(custom), await wa.js(custom)
    assert first["id"] == second["id"] == f"true_{ANA_WID}_ABC123"
    assert len(await call_api("GET", f"api/sent?to={ANA}")) == 2


async def test_offline_messages_become_unread_not_events(open_page, call_api) -> None:
    wa = await open_page()
    await call_api("POST", "api/link")
    await wa.log.wait_count("conn.main_ready")
    await call_api("POST", "api/state", {"state": "OFFLINE"})
    await wa.log.wait_for(lambda events: ("conn.online", False) in events)
    assert wa.modes()[-1] == "OFFLINE" and await wa.js("() => WPP.conn.isOnline()") is False
    error = await wa.js("() => WPP.chat.sendTextMessage('15551234567@c.us', 'x').then(() => null, (e) => e.message)")
    assert error and "OFFLINE" in error

    posted = await call_api("POST", "api/messages", {"from": ANA, "text": "while offline", "name": "Ana"})
    assert (await call_api("GET", "api/status"))["pending"] == 1
    await call_api("POST", "api/state", {"state": "CONNECTED"})
    await wa.wait_mode("MAIN", 2)
    assert wa.modes()[-3:] == ["OFFLINE", "SYNCING", "MAIN"]
    assert ("conn.online", True) in wa.log.events and ("conn.stream_info_changed", "RESUMING") in wa.log.events
    assert wa.log.payloads("chat.new_message") == []  # arrived while nobody could take it: never an event
    assert (await call_api("GET", "api/status"))["pending"] == 0

    unread = await wa.js(
        """async () => {
          const chats = await WPP.chat.list({onlyWithUnreadMessage: true});
          const msgs = await WPP.chat.getMessages(chats[0].id, {count: -1, onlyUnread: true});
          return {chats: chats.map((c) => [c.id._serialized, c.unreadCount]),
                  msgs: msgs.map((m) => [m.id._serialized, m.body, m.isNewMsg])};
        }"""
    )
    assert unread == {"chats": [[ANA_WID, 1]], "msgs": [[posted["id"], "while offline", True]]}


async def test_messages_before_any_page_are_unread_chats(open_page, call_api) -> None:
    texts = ["one", "two", "three"]
    for text in texts:
        await call_api("POST", "api/messages", {"from": ANA, "text": text, "name": "Ana"})
    assert (await call_api("GET", "api/chats"))[0]["unread"] == 3
    wa = await open_page()
    await call_api("POST", "api/link")
    await wa.log.wait_count("conn.main_ready")
    assert wa.log.payloads("chat.new_message") == []
    bodies = await wa.js(
        """() => WPP.chat.getMessages('15551234567@c.us', {count: -1, onlyUnread: true})
                   .then((msgs) => msgs.map((m) => m.body))"""
    )
    assert bodies == texts
    # Read now: the phone sees blue ticks and the chat is no longer unread.
    assert await wa.js("() => WPP.chat.markIsRead('15551234567').then((r) => r.unreadCount)") == 3
    assert await wa.js("() => WPP.chat.getMessages('15551234567@c.us', {onlyUnread: true})") == []
    assert await wa.js("() => WPP.chat.list({onlyWithUnreadMessage: true})") == []


async def test_events_reach_only_listeners_registered_in_time(open_page, call_api) -> None:
    """Like wa-js's EventEmitter: a message emitted before the bot listens is in the store, never replayed."""
    wa = await open_page(record=False)
    await call_api("POST", "api/link")
    first = await call_api("POST", "api/messages", {"from": ANA, "text": "before the bot listens"})
    await wa.page.locator(".chat-last", has_text="before the bot listens").wait_for(timeout=5000)
    await wa.js("() => { window.__got = []; WPP.on('chat.new_message', (m) => window.__got.push(m.body)); }")
    await call_api("POST", "api/messages", {"from": ANA, "text": "after"})
    await wa.page.locator(".chat-last", has_text="after").wait_for(timeout=5000)
    assert await wa.js("() => window.__got") == ["after"]
    stored = await wa.js(
        """(key) => Promise.all([WPP.chat.getMessageById(key), WPP.chat.list()])
                   .then(([m, chats]) => [m.body, chats[0].unreadCount])""",
        first["id"],
    )
    assert stored == ["before the bot listens", 2]


async def test_mark_read_and_composing(open_page, call_api) -> None:
    wa = await open_page()
    await call_api("POST", "api/link")
    await call_api("POST", "api/messages", {"from": ANA, "text": "a"})
    await call_api("POST", "api/messages", {"from": ANA, "text": "b"})
    await wa.log.wait_count("chat.new_message", 2)
    read = await wa.js("() => WPP.chat.markIsRead('15551234567@c.us').then((r) => [String(r.wid), r.unreadCount])")
    assert read == [ANA_WID, 2]
    assert await wa.js("() => WPP.chat.markIsComposing('15551234567@c.us', 50)") is None
    [chat] = await call_api("GET", "api/chats")
    assert chat["unread"] == 0 and chat["composing_events"] == 1


async def test_reload_keeps_the_link(open_page, call_api) -> None:
    wa = await open_page()
    await call_api("POST", "api/link")
    await wa.log.wait_count("conn.main_ready")
    codes_before = len(wa.log.payloads("conn.auth_code_change"))
    await wa.page.reload()
    await wa.ready()
    await wa.log.wait_count("conn.main_ready", 2)
    assert await wa.js("() => WPP.conn.isMainReady()") is True
    assert len(wa.log.payloads("conn.auth_code_change")) == codes_before  # no QR after the reload
    assert await wa.page.locator("#qr-screen").is_hidden()
    status = await call_api("GET", "api/status")
    assert status["qr_pages"] == 0 and status["ready_pages"] == 1


async def test_second_page_with_the_same_link_conflicts_the_first(open_page, call_api) -> None:
    first = await open_page()
    await call_api("POST", "api/link")
    await first.log.wait_count("conn.main_ready")
    second = await open_page(first.context)
    await second.log.wait_count("conn.main_ready")
    await first.log.wait_for(lambda events: ("conn.stream_mode_changed", "CONFLICT") in events)
    error = await first.js("() => WPP.chat.sendTextMessage('15551234567@c.us', 'x').then(() => null, (e) => e.message)")
    assert error and "CONFLICT" in error
    await first.page.locator("#conflict").wait_for(state="visible", timeout=5000)

    # Messages now reach only the active page.
    await call_api("POST", "api/messages", {"from": ANA, "text": "to the new tab"})
    [msg] = await second.log.wait_count("chat.new_message")
    assert msg["body"] == "to the new tab" and first.log.payloads("chat.new_message") == []
    status = await call_api("GET", "api/status")
    assert status["ready_pages"] == 1
    assert sorted(p["state"] for p in status["pages"]) == ["CONFLICT", "MAIN"]

    # "Use here" takes the session back.
    await first.page.locator("#use-here").click()
    await second.log.wait_for(lambda events: ("conn.stream_mode_changed", "CONFLICT") in events)
    # The two pages are told over separate sockets: wait for the first one's news too.
    await first.log.wait_for(lambda _: first.log.payloads("conn.stream_mode_changed")[-1] == "MAIN")
    assert first.log.payloads("conn.stream_mode_changed")[-1] == "MAIN"


async def test_logout_returns_the_page_to_the_qr_screen(open_page, call_api) -> None:
    wa = await open_page()
    await call_api("POST", "api/link")
    await wa.log.wait_count("conn.main_ready")
    async with wa.page.expect_navigation(timeout=5000):
        await call_api("POST", "api/logout")
    await wa.ready()
    await wa.log.wait_for(lambda events: "conn.logout" in [e for e, _ in events])
    # After the reload the page shows a fresh QR.
    await wa.log.wait_for(lambda events: events[-1][0] == "conn.auth_code_change" and events[-1][1] is not None)
    assert await wa.js("() => WPP.conn.isAuthenticated()") is False
    assert await wa.stored_token() is None
    await wa.page.locator("#qr").wait_for(state="visible", timeout=5000)
    status = await call_api("GET", "api/status")
    assert status["linked"] is False and status["qr_pages"] == 1


async def test_logout_from_the_page(open_page, call_api) -> None:
    wa = await open_page()
    await call_api("POST", "api/link")
    await wa.log.wait_count("conn.main_ready")
    async with wa.page.expect_navigation(timeout=5000):
        assert await wa.js("() => WPP.conn.logout()") is True
    await wa.ready()
    assert await wa.js("() => WPP.conn.getAuthCode().then((c) => c.type)") == "multidevice"
    assert (await call_api("GET", "api/status"))["linked"] is False


async def test_qr_ref_rotates(browser, http: aiohttp.ClientSession) -> None:
    async with Simulator(qr_refresh_s=0.2) as sim:
        context = await browser.new_context()
        try:
            page = await context.new_page()
            await page.goto(sim.base_url)
            codes = await page.evaluate(
                """() => new Promise((resolve) => {
                  const seen = [];
                  WPP.on('conn.auth_code_change', (code) => { seen.push(code); if (seen.length === 2) resolve(seen); });
                })"""
            )
            assert codes[0]["ref"] != codes[1]["ref"]
            assert codes[0]["secretKey"] == codes[1]["secretKey"]
            # Linking by the current ref works; a stale ref is refused.
            async with http.post(sim.base_url + "api/link", json={"ref": "2@stale"}) as response:
                assert response.status == 409
        finally:
            await context.close()
