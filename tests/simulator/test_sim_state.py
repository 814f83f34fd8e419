"""SimState without a server: who is told what, in which order."""

from __future__ import annotations

import re

import pytest

from bot.simulator.inbound import BadInput, parse_incoming
from bot.simulator.offline_model import fill_schema, offline_reply
from bot.simulator.pages import NoQrPage, Push, Rejected
from bot.simulator.state import SimState
from bot.simulator.stream import MainReady

ANA = "15551234567"


def _types(pushes: list[Push], page_id: str) -> list[str]:
    return [p.payload["type"] for p in pushes if p.target == "page" and p.key == page_id]


def _modes(pushes: list[Push], page_id: str) -> list[str]:
    return [p.payload["mode"] for p in pushes if p.target == "page" and p.key == page_id and "mode" in p.payload]


def _linked_state() -> tuple[SimState, str]:
    state = SimState("15550000000", clock=lambda: 1_700_000_000.5)
    page, _ = state.open_page(None)
    state.link()
    return state, page.id


def test_link_loads_history_then_syncs_to_main_ready_without_message_events() -> None:
    state = SimState("15550000000")
    key, _ = state.post(parse_incoming({"from": ANA, "text": "early"}))
    assert state.status()["pending"] == 1
    page, pushes = state.open_page(None)
    assert _types(pushes, page.id) == ["welcome"]
    assert pushes[0].payload["authCode"]["type"] == "multidevice"
    assert pushes[0].payload["history"] == {} and pushes[0].payload["chats"] == []  # a QR page knows no chats
    pushes = state.link()
    assert _types(pushes, page.id) == ["authenticated", "stream", "stream", "mainReady"]
    assert _modes(pushes, page.id) == ["SYNCING", "MAIN"]
    [early] = pushes[0].payload["history"][f"{ANA}@c.us"]
    assert early["body"] == "early" and early["isNewMsg"] is False
    assert pushes[0].payload["chats"][0]["unreadCount"] == 1
    assert {"type": "ack", "id": key, "ack": 2} in [p.payload for p in pushes if p.target == "phone"]
    assert pushes[-1] == Push("phones", "", {"type": "status", "status": state.status()})
    assert state.status()["pending"] == 0
    with pytest.raises(NoQrPage):
        state.link()


def test_link_by_ref_picks_that_page_only() -> None:
    state = SimState("15550000000")
    first, _ = state.open_page(None)
    second, _ = state.open_page(None)
    state.rotate_qr(second.id)
    assert second.auth_code is not None
    pushes = state.link(second.auth_code.ref)
    assert {p.key for p in pushes if p.target == "page"} == {second.id}
    assert state.pages.get(first.id).stage == "qr"
    with pytest.raises(NoQrPage):
        state.link("2@not-a-shown-ref")


def test_qr_rotation_keeps_the_keys() -> None:
    state = SimState("15550000000")
    page, _ = state.open_page(None)
    before = page.auth_code
    [push] = state.rotate_qr(page.id)
    after = push.payload["authCode"]
    assert after["ref"] != before.ref and after["secretKey"] == before.secret_key
    state.link()
    assert state.rotate_qr(page.id) == []


def test_same_token_conflicts_and_take_over_swaps() -> None:
    state, first = _linked_state()
    token = state.pages.get(first).token
    second, pushes = state.open_page(token)
    assert second.stage == "main_ready"
    conflict = {"type": "stream", "mode": "CONFLICT", "online": True, "info": "NORMAL", "socket": "CONFLICT"}
    assert [p.payload for p in pushes if p.key == first] == [conflict]
    with pytest.raises(Rejected, match="CONFLICT"):
        state.send_text(first, ANA, "hi")
    pushes = state.take_over(first)
    assert [p.payload["mode"] for p in pushes if p.target == "page"] == ["CONFLICT", "MAIN"]
    with pytest.raises(Rejected):
        state.take_over(first)


def test_use_here_after_an_account_conflict_reconnects() -> None:
    state, page = _linked_state()
    state.set_state("CONFLICT")
    pushes = state.take_over(page)
    assert state.pages.state == "CONNECTED"
    assert [p.payload["mode"] for p in pushes if p.target == "page"] == ["MAIN"]


def test_unknown_token_gets_the_qr_screen() -> None:
    state = SimState("15550000000")
    page, pushes = state.open_page("forgotten")
    assert page.stage == "qr" and pushes[0].payload["tokenRejected"] is True


def test_offline_messages_arrive_silently_while_the_page_resyncs() -> None:
    state, page = _linked_state()
    state.set_state("OFFLINE")
    key, pushes = state.post(parse_incoming({"from": ANA, "text": "later"}))
    assert _types(pushes, page) == []
    assert state.status()["pending"] == 1 and state.store.find(key).ack == 1
    with pytest.raises(Rejected, match="OFFLINE"):
        state.send_text(page, ANA, "hi")
    pushes = state.set_state("CONNECTED")
    # The missed message first (as no event), then SYNCING and MAIN; main_ready was already emitted.
    assert _types(pushes, page) == ["sync", "stream", "stream"]
    assert _modes(pushes, page) == ["SYNCING", "MAIN"]
    assert [p.payload["info"] for p in pushes if p.key == page and p.payload["type"] == "stream"] == [
        "RESUMING",
        "NORMAL",
    ]
    [sync] = [p.payload for p in pushes if p.key == page and p.payload["type"] == "sync"]
    assert [m["body"] for m in sync["messages"]] == ["later"] and sync["messages"][0]["isNewMsg"] is False
    assert sync["chats"] == [
        {"id": f"{ANA}@c.us", "name": f"+{ANA}", "unreadCount": 1, "t": 1_700_000_000, "isGroup": False, "order": 1}
    ]
    assert state.store.find(key).ack == 2  # now on a page: the contact's phone shows two ticks
    assert state.status()["pending"] == 0
    with pytest.raises(ValueError, match="CONNECTED, SYNCING"):
        state.set_state("SLEEPING")


def test_send_acks_only_move_forward_and_message_ids_are_idempotent() -> None:
    state, page = _linked_state()
    result, pushes = state.send_text(page, {"_serialized": f"{ANA}@c.us"}, "hello", "ABC")
    assert result["id"] == f"true_{ANA}@c.us_ABC" and result["ack"] == 1
    assert _types(pushes, page) == ["message"]
    assert [p.payload["type"] for p in pushes if p.target == "phone"] == ["message"]
    assert _types(state.confirm_delivery(result["id"]), page) == ["ack"]
    assert _types(state.phone_seen(ANA, [result["id"]]), page) == ["ack"]
    assert state.confirm_delivery(result["id"]) == []  # READ never goes back to RECEIVED
    again, pushes = state.send_text(page, f"{ANA}@c.us", "hello", f"true_{ANA}@c.us_ABC")
    assert again["id"] == result["id"] and again["ack"] == 3 and pushes == []
    assert [s["ack"] for s in state.store.sent_log(ANA)] == [3]
    assert state.store.sent_log(ANA)[0]["time"] == 1_700_000_000.5


def test_phone_cannot_mark_other_chats_or_contact_messages_read() -> None:
    state, page = _linked_state()
    theirs, _ = state.post(parse_incoming({"from": ANA, "text": "mine"}))
    mine, _ = state.send_text(page, "15557654321", "to someone else")
    assert state.phone_seen(ANA, [theirs, mine["id"], "nonsense", 42]) == []


def test_mark_read_returns_cleared_count_and_turns_ticks_blue() -> None:
    state, page = _linked_state()
    key, _ = state.post(parse_incoming({"from": ANA, "text": "a"}))
    result, pushes = state.mark_read(page, f"{ANA}@c.us")
    assert result == {"wid": f"{ANA}@c.us", "unreadCount": 1}
    assert {"type": "ack", "id": key, "ack": 3} in [p.payload for p in pushes if p.target == "phone"]
    assert state.mark_read(page, ANA)[0]["unreadCount"] == 0
    with pytest.raises(Rejected, match="invalid chat id"):
        state.mark_read(page, "not a chat")


def test_composing_reaches_the_contacts_phone() -> None:
    state, page = _linked_state()
    assert state.composing(page, ANA, 3000) == [Push("phone", ANA, {"type": "typing", "duration_ms": 3000})]
    assert state.composing(page, ANA, paused=True) == [Push("phone", ANA, {"type": "paused"})]
    assert state.store.chats()[0]["composing_events"] == 1


def test_logout_forgets_tokens_and_pages() -> None:
    state, page = _linked_state()
    token = state.pages.get(page).token
    pushes = state.logout()
    assert _types(pushes, page) == ["logout"]
    assert state.status()["pages"] == [] and not state.pages.linked
    with pytest.raises(Rejected):
        state.send_text(page, ANA, "hi")
    assert state.open_page(token)[0].stage == "qr"


def test_message_with_no_page_is_in_the_next_pages_history_not_an_event() -> None:
    state, page = _linked_state()
    token = state.pages.get(page).token
    state.close_page(page)
    state.post(parse_incoming({"from": ANA, "text": "while closed"}))
    reopened, pushes = state.open_page(token)
    assert _types(pushes, reopened.id) == ["welcome", "stream", "mainReady"]
    welcome = pushes[0].payload
    assert welcome["stage"] == "syncing" and welcome["stream"]["mode"] == "SYNCING"
    assert [m["body"] for m in welcome["history"][f"{ANA}@c.us"]] == ["while closed"]
    assert state.status()["pending"] == 0


def test_syncing_state_delivers_events_but_refuses_sends() -> None:
    state, page = _linked_state()
    pushes = state.set_state("SYNCING")
    assert _modes(pushes, page) == ["SYNCING"]
    _, pushes = state.post(parse_incoming({"from": ANA, "text": "during sync"}))
    assert _types(pushes, page) == ["message"]
    with pytest.raises(Rejected, match="cannot send: the stream is SYNCING"):
        state.send_text(page, ANA, "hi")
    assert _modes(state.set_state("CONNECTED"), page) == ["MAIN"]  # not back from offline: no resync


@pytest.mark.parametrize(
    ("name", "mode", "online", "info", "socket"),
    [
        ("CONNECTED", "MAIN", True, "NORMAL", "CONNECTED"),
        ("SYNCING", "SYNCING", True, "SYNCING", "CONNECTED"),
        ("PAIRING", "SYNCING", True, "PAIRING", "PAIRING"),
        ("OFFLINE", "OFFLINE", False, "OFFLINE", "OPENING"),
        ("OPENING", "OFFLINE", False, "OPENING", "OPENING"),
        ("TIMEOUT", "OFFLINE", False, "CONNECTING", "TIMEOUT"),
        ("CONFLICT", "CONFLICT", True, "NORMAL", "CONFLICT"),
        ("TOS_BLOCK", "TOS_BLOCK", True, "NORMAL", "TOS_BLOCK"),
        ("SMB_TOS_BLOCK", "SMB_TOS_BLOCK", True, "NORMAL", "SMB_TOS_BLOCK"),
        ("PROXYBLOCK", "PROXYBLOCK", True, "NORMAL", "PROXYBLOCK"),
        ("DEPRECATED_VERSION", "DEPRECATED_VERSION", True, "NORMAL", "DEPRECATED_VERSION"),
    ],
)
def test_each_state_shows_its_stream(name: str, mode: str, online: bool, info: str, socket: str) -> None:
    state, page = _linked_state()
    [push] = [p for p in state.set_state(name) if p.key == page]
    assert push.payload == {"type": "stream", "mode": mode, "online": online, "info": info, "socket": socket}
    _, pushes = state.post(parse_incoming({"from": ANA, "text": "x"}))
    assert _types(pushes, page) == (["message"] if mode in ("MAIN", "SYNCING") else [])


def test_unpaired_is_a_logout_by_the_server() -> None:
    state, page = _linked_state()
    state.set_state("OFFLINE")
    pushes = state.set_state("UNPAIRED")
    assert _types(pushes, page) == ["logout"]
    assert not state.pages.linked and state.pages.state == "CONNECTED"


def test_sync_ms_holds_syncing_until_its_timer() -> None:
    state = SimState("15550000000", sync_ms=250)
    page, _ = state.open_page(None)
    pushes = state.link()
    assert _modes(pushes, page.id) == ["SYNCING"]
    [timer] = [p for p in pushes if p.target == "timer" and p.payload["type"] == "syncDone"]
    assert timer.key == page.id and timer.payload["delay_s"] == 0.25
    assert state.status()["ready_pages"] == 0 and state.status()["pages"][0]["stage"] == "syncing"
    pushes = state.on_timer(page.id, timer.payload)
    assert _types(pushes, page.id) == ["stream", "mainReady"] and _modes(pushes, page.id) == ["MAIN"]
    assert state.on_timer(page.id, timer.payload) == []  # a timer fires once
    # Back from offline: SYNCING again for sync_ms, and no second main_ready.
    state.set_state("OFFLINE")
    pushes = state.set_state("CONNECTED")
    [timer] = [p for p in pushes if p.target == "timer"]
    assert _modes(pushes, page.id) == ["SYNCING"]
    assert _types(state.on_timer(page.id, timer.payload), page.id) == ["stream"]


def test_main_ready_never_leaves_the_page_syncing() -> None:
    state = SimState("15550000000")
    state.set_main_ready(MainReady(mode="never"))
    page, _ = state.open_page(None)
    pushes = state.link()
    assert _types(pushes, page.id) == ["authenticated", "stream"] and _modes(pushes, page.id) == ["SYNCING"]
    assert not [p for p in pushes if p.target == "timer" and p.payload["type"] == "syncDone"]
    assert state.status()["pages"][0] | {"id": None} == {
        "id": None,
        "stage": "syncing",
        "state": "SYNCING",
        "info": "SYNCING",
        "idle": False,
        "main_ready_mode": "never",
        "main_ready": False,
    }
    _, pushes = state.post(parse_incoming({"from": ANA, "text": "x"}))
    assert _types(pushes, page.id) == ["sync"]  # into the page's store, never as an event
    with pytest.raises(Rejected, match="main-ready"):
        state.send_text(page.id, ANA, "hi")
    state.set_state("OFFLINE")
    assert _modes(state.set_state("CONNECTED"), page.id) == ["SYNCING"]


def test_main_ready_before_auth_fires_on_the_qr_screen_once() -> None:
    state = SimState("15550000000")
    state.set_main_ready(MainReady(mode="before-auth"))
    page, pushes = state.open_page(None)
    assert _types(pushes, page.id) == ["welcome", "mainReady"]
    pushes = state.link()
    assert _types(pushes, page.id) == ["authenticated", "stream", "stream"]
    assert _modes(pushes, page.id) == ["SYNCING", "MAIN"]


def test_main_ready_delay_holds_main_back() -> None:
    state = SimState("15550000000")
    state.set_main_ready(MainReady(mode="normal", delay_s=2.0))
    page, _ = state.open_page(None)
    pushes = state.link()
    [timer] = [p for p in pushes if p.target == "timer" and p.payload["type"] == "syncDone"]
    assert timer.payload["delay_s"] == 2.0
    assert _types(state.on_timer(page.id, timer.payload), page.id) == ["stream", "mainReady"]
    # Pages opened before a change keep their setting.
    state.set_main_ready(MainReady())
    assert state.pages.get(page.id).ready.delay_s == 2.0


def test_main_ready_setting_is_validated() -> None:
    assert MainReady.parse({}) == MainReady()
    assert MainReady.parse({"mode": "before-auth", "delay_ms": 1500}) == MainReady("before-auth", 1.5)
    for bad in ({"mode": "sometimes"}, {"delay_ms": -1}, {"delay_ms": True}, {"extra": 1}, ["normal"]):
        with pytest.raises(BadInput):
            MainReady.parse(bad)


def test_qr_rotates_then_goes_idle_until_refreshed() -> None:
    state = SimState("15550000000", qr_refresh_s=20, qr_rotations_before_idle=2)
    page, pushes = state.open_page(None)
    refs = [page.auth_code.ref]
    for _ in range(2):
        [timer] = [p for p in pushes if p.target == "timer"]
        assert timer.payload["delay_s"] == 20
        pushes = state.on_timer(page.id, timer.payload)
        assert _types(pushes, page.id) == ["authCode"]
        refs.append(pushes[0].payload["authCode"]["ref"])
    [timer] = [p for p in pushes if p.target == "timer"]
    pushes = state.on_timer(page.id, timer.payload)
    assert _types(pushes, page.id) == ["qrIdle", "stream"] and pushes[1].payload["socket"] == "UNPAIRED_IDLE"
    assert not [p for p in pushes if p.target == "timer"]  # rotation stopped
    assert len(set(refs)) == 3 and state.status()["pages"][0]["idle"] is True
    with pytest.raises(NoQrPage, match="idle"):
        state.link()
    with pytest.raises(NoQrPage):
        state.link(refs[-1])
    _, pushes = state.refresh_qr(page.id)
    assert _types(pushes, page.id) == ["authCode", "stream"]
    assert pushes[0].payload["authCode"]["ref"] not in refs and pushes[1].payload["socket"] == "UNPAIRED"
    [timer] = [p for p in pushes if p.target == "timer"]
    assert page.qr is not None and page.qr.rotations == 0 and not page.qr.idle
    assert state.on_timer(page.id, {**timer.payload, "gen": timer.payload["gen"] - 1}) == []  # the old timer
    state.link()
    assert state.refresh_qr(page.id) == (None, [])


def test_rotate_and_idle_every_qr_page() -> None:
    state = SimState("15550000000", qr_refresh_s=0)
    with pytest.raises(NoQrPage):
        state.rotate_all_qr()
    first, pushes = state.open_page(None)
    assert not [p for p in pushes if p.target == "timer"]  # qr_refresh_s=0: no automatic rotation
    second, _ = state.open_page(None)
    assert {p.key for p in state.rotate_all_qr() if p.target == "page"} == {first.id, second.id}
    assert _types(state.idle_all_qr(), first.id) == ["qrIdle", "stream"]
    with pytest.raises(NoQrPage):
        state.rotate_all_qr()
    with pytest.raises(NoQrPage):
        state.idle_all_qr()


def test_pairing_code_links_the_page_that_asked_for_it() -> None:
    state = SimState("15550000000")
    first, _ = state.open_page(None)
    second, _ = state.open_page(None)
    code = state.link_code(second.id, "+15550000000")
    assert re.fullmatch(r"[A-Z0-9]{8}", code)
    with pytest.raises(Rejected, match="phone number"):
        state.link_code(first.id, "12-34")
    other = state.link_code(first.id, "15559999999")
    with pytest.raises(NoQrPage, match=r"\+15559999999"):
        state.link(code=other)
    with pytest.raises(NoQrPage):
        state.link(code="ZZZZ-ZZZZ" if code != "ZZZZZZZZ" else "YYYY-YYYY")
    pushes = state.link(code=f"{code[:4].lower()}-{code[4:]}")
    assert {p.key for p in pushes if p.target == "page"} == {second.id}
    with pytest.raises(Rejected, match="authenticated"):
        state.link_code(second.id, "15550000000")


def test_take_over_brings_what_was_missed_silently() -> None:
    state, first = _linked_state()
    second, _ = state.open_page(state.pages.get(first).token)
    _, pushes = state.post(parse_incoming({"from": ANA, "text": "to the active tab"}))
    assert _types(pushes, second.id) == ["message"] and _types(pushes, first) == []
    pushes = state.take_over(first)
    assert _types(pushes, first) == ["sync", "stream"] and _modes(pushes, second.id) == ["CONFLICT"]


def test_acks_while_offline_reach_the_page_silently() -> None:
    state, page = _linked_state()
    result, _ = state.send_text(page, ANA, "hello")
    state.set_state("OFFLINE")
    assert state.confirm_delivery(result["id"]) == []
    pushes = state.set_state("CONNECTED")
    [sync] = [p.payload for p in pushes if p.key == page and p.payload["type"] == "sync"]
    assert sync["messages"] == [] and [(a["id"]["_serialized"], a["ack"]) for a in sync["acks"]] == [(result["id"], 2)]


def test_sending_reads_the_chat_first_as_wa_js_does() -> None:
    state, page = _linked_state()
    state.post(parse_incoming({"from": ANA, "text": "a"}))
    _, pushes = state.send_text(page, ANA, "answer", mark_read=False)
    assert _types(pushes, page) == ["message"] and state.store.chat(f"{ANA}@c.us").unread == 1
    _, pushes = state.send_text(page, ANA, "answer again")
    assert _types(pushes, page) == ["chat", "message"] and state.store.chat(f"{ANA}@c.us").unread == 0


def test_typing_on_the_phone_reads_the_chat() -> None:
    state, page = _linked_state()
    key, _ = state.post(parse_incoming({"from": ANA, "text": "a"}))
    _, pushes = state.post(parse_incoming({"from_me": True, "to": ANA, "text": "answered on the phone"}))
    assert _types(pushes, page) == ["chat", "message"] and pushes[0].payload["chat"]["unreadCount"] == 0
    assert {"type": "ack", "id": key, "ack": 3} in [p.payload for p in pushes if p.target == "phone"]


def test_reload_reaches_every_page() -> None:
    state, page = _linked_state()
    qr_page, _ = state.open_page(None)
    assert {(p.key, p.payload["type"]) for p in state.reload_pages()} == {(page, "reload"), (qr_page.id, "reload")}


def test_parse_incoming_accepts_the_documented_shapes() -> None:
    assert parse_incoming({"from": 15551234567, "text": "x"}).chat == f"{ANA}@c.us"
    assert parse_incoming({"from": f"{ANA}@c.us", "text": "x", "group": "1-2@g.us"}).chat == "1-2@g.us"
    own = parse_incoming({"from_me": True, "to": ANA, "text": "x"})
    assert own.sender is None and own.chat == f"{ANA}@c.us"
    with pytest.raises(BadInput, match="from"):
        parse_incoming({"from": True, "text": "x"})
    with pytest.raises(BadInput, match="group"):
        parse_incoming({"from": ANA, "text": "x", "group": "abc"})


def test_offline_model_quotes_and_fills_schemas() -> None:
    assert '"Is the shop open?"' in offline_reply("Is the shop   open?")
    assert offline_reply("x" * 500).count("x") < 200
    assert "offline demo model" in offline_reply("")
    gemini_schema = {"type": "OBJECT", "properties": {"text": {"type": "STRING"}, "mood": {"enum": ["happy"]}}}
    assert fill_schema(gemini_schema, "hi") == {"text": "hi", "mood": "happy"}
    assert fill_schema({}, "hi") == {"reply": "hi"}
