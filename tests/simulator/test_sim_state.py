"""SimState without a server: who is told what, in which order."""

from __future__ import annotations

import pytest

from bot.simulator.inbound import BadInput, parse_incoming
from bot.simulator.offline_model import fill_schema, offline_reply
from bot.simulator.pages import NoQrPage, Push, Rejected
from bot.simulator.state import SimState

ANA = "15551234567"


def _types(pushes: list[Push], page_id: str) -> list[str]:
    return [p.payload["type"] for p in pushes if p.target == "page" and p.key == page_id]


def _linked_state() -> tuple[SimState, str]:
    state = SimState("15550000000", clock=lambda: 1_700_000_000.5)
    page, _ = state.open_page(None)
    state.link()
    return state, page.id


def test_link_pushes_authenticated_then_main_ready_then_held_messages() -> None:
    state = SimState("15550000000")
    state.post(parse_incoming({"from": ANA, "text": "early"}))
    page, pushes = state.open_page(None)
    assert _types(pushes, page.id) == ["welcome"]
    assert pushes[0].payload["authCode"]["type"] == "multidevice"
    pushes = state.link()
    assert _types(pushes, page.id) == ["authenticated", "mainReady", "message"]
    assert pushes[-1] == Push("phones", "", {"type": "status", "status": state.status()})
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
    assert [p.payload for p in pushes if p.key == first] == [{"type": "stream", "mode": "CONFLICT", "online": True}]
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


def test_offline_holds_messages_and_refuses_sends() -> None:
    state, page = _linked_state()
    state.set_state("OFFLINE")
    key, pushes = state.post(parse_incoming({"from": ANA, "text": "later"}))
    assert _types(pushes, page) == []
    with pytest.raises(Rejected, match="OFFLINE"):
        state.send_text(page, ANA, "hi")
    pushes = state.set_state("CONNECTED")
    assert _types(pushes, page) == ["stream", "message"]
    assert state.store.find(key).ack == 2  # delivered: the contact's phone shows two ticks
    with pytest.raises(ValueError):
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
