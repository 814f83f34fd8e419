"""What a page knows, read with wa-js's own calls: WPP.chat.list, getMessages and getMessageById."""

from __future__ import annotations

from typing import Any

ANA, BO, CY = "15551234567", "15557654321", "15550001111"
ANA_WID, CY_WID = f"{ANA}@c.us", f"{CY}@c.us"
GROUP_WID = "123-456@g.us"

CHATS_JS = """(options) => WPP.chat.list(options).then((chats) => chats.map((c) => ({
    id: c.id._serialized, user: c.id.user, server: c.id.server, unread: c.unreadCount, hasUnread: c.hasUnread,
    group: c.isGroup, name: c.name, t: c.t})))"""
BODIES_JS = """([chat, options]) => WPP.chat.getMessages(chat, options).then((msgs) => msgs.map((m) => m.body))"""


async def _linked(open_page, call_api) -> Any:
    wa = await open_page()
    await call_api("POST", "api/link")
    await wa.log.wait_count("conn.main_ready")
    return wa


async def test_chat_list_is_most_recent_first_and_filters(open_page, call_api) -> None:
    wa = await _linked(open_page, call_api)
    await call_api("POST", "api/messages", {"from": ANA, "text": "a", "name": "Ana"})
    await call_api("POST", "api/messages", {"from": BO, "text": "b", "name": "Bo", "group": "123-456"})
    await call_api("POST", "api/messages", {"from": CY, "text": "c"})
    await call_api("POST", "api/messages", {"from": ANA, "text": "status", "broadcast": True})
    await wa.log.wait_count("chat.new_message", 4)

    chats = await wa.js(CHATS_JS, {})
    assert [c["id"] for c in chats] == [CY_WID, GROUP_WID, ANA_WID]  # status posts are not a chat
    ana = chats[2]
    assert ana | {"t": 0} == {
        "id": ANA_WID,
        "user": ANA,
        "server": "c.us",
        "unread": 1,
        "hasUnread": True,
        "group": False,
        "name": "Ana",
        "t": 0,
    }
    assert isinstance(ana["t"], int) and ana["t"] > 1_700_000_000
    assert chats[1]["group"] is True
    assert [c["id"] for c in await wa.js(CHATS_JS, {"onlyUsers": True})] == [CY_WID, ANA_WID]
    assert [c["id"] for c in await wa.js(CHATS_JS, {"onlyGroups": True})] == [GROUP_WID]
    assert [c["id"] for c in await wa.js(CHATS_JS, {"count": 1})] == [CY_WID]

    await wa.js(f"() => WPP.chat.markIsRead('{CY_WID}')")
    unread = await wa.js(CHATS_JS, {"onlyWithUnreadMessage": True})
    assert [(c["id"], c["unread"]) for c in unread] == [(GROUP_WID, 1), (ANA_WID, 1)]
    # The live objects are wa-js shaped: a Wid id with methods, JSON with a plain id.
    shape = await wa.js(
        """() => WPP.chat.list({count: 1}).then(([c]) => [c.id.isUser(), JSON.parse(JSON.stringify(c)).id])"""
    )
    assert shape == [True, {"server": "c.us", "user": CY, "_serialized": CY_WID}]


async def test_get_messages_oldest_first_with_unread_and_anchors(open_page, call_api) -> None:
    wa = await _linked(open_page, call_api)
    keys = [(await call_api("POST", "api/messages", {"from": ANA, "text": t}))["id"] for t in ("a", "b", "c")]
    await wa.log.wait_count("chat.new_message", 3)

    assert await wa.js(BODIES_JS, [ANA_WID, {"count": -1}]) == ["a", "b", "c"]
    assert await wa.js(BODIES_JS, [ANA_WID, {"count": 2}]) == ["b", "c"]
    assert await wa.js(BODIES_JS, [ANA_WID, {"count": 2, "onlyUnread": True}]) == ["b", "c"]
    unread = await wa.js(
        """() => WPP.chat.getMessages('15551234567@c.us', {count: -1, onlyUnread: true})
                   .then((msgs) => msgs.map((m) => [m.id._serialized, m.isNewMsg, typeof m.serialize]))"""
    )
    assert unread == [[key, True, "function"] for key in keys]

    # Sending reads the chat first (wa-js's markIsRead option defaults to true).
    await wa.js(f"() => WPP.chat.sendTextMessage('{ANA_WID}', 'r')")
    assert await wa.js(BODIES_JS, [ANA_WID, {"onlyUnread": True}]) == []
    await call_api("POST", "api/messages", {"from": ANA, "text": "d"})
    await wa.log.wait_for(lambda _: [m["body"] for m in wa.log.payloads("chat.new_message")][-1:] == ["d"])
    assert await wa.js(BODIES_JS, [ANA_WID, {"count": -1}]) == ["a", "b", "c", "r", "d"]
    assert await wa.js(BODIES_JS, [ANA_WID, {"count": 20, "onlyUnread": True}]) == ["d"]
    assert await wa.js(BODIES_JS, [ANA_WID, {"id": keys[2], "count": 2, "direction": "before"}]) == ["a", "b"]
    assert await wa.js(BODIES_JS, [ANA_WID, {"id": keys[2], "count": 5, "direction": "after"}]) == ["r", "d"]

    error = await wa.rejection("() => WPP.chat.getMessages('15559999999@c.us', {count: -1})")
    assert error is not None and error["code"] == "chat_not_found"


async def test_get_message_by_id_finds_what_the_page_holds(open_page, call_api) -> None:
    early = await call_api("POST", "api/messages", {"from": ANA, "text": "in the history", "name": "Ana"})
    wa = await _linked(open_page, call_api)
    live = await call_api("POST", "api/messages", {"from": ANA, "text": "live"})
    await wa.log.wait_count("chat.new_message")
    sent = await wa.js(f"() => WPP.chat.sendTextMessage('{ANA_WID}', 'sent by the bot')")

    found = await wa.js(
        """(keys) => Promise.all(keys.map((k) => WPP.chat.getMessageById(k)))
                     .then((msgs) => msgs.map((m) => [m.id._serialized, m.body, m.isNewMsg, m.from._serialized]))""",
        [early["id"], live["id"], sent["id"]],
    )
    assert found == [
        [early["id"], "in the history", False, ANA_WID],
        [live["id"], "live", True, ANA_WID],
        [sent["id"], "sent by the bot", True, "15550000000@c.us"],
    ]
    # A MsgKey works as well as its string, and an array answers with an array.
    assert (
        await wa.js(
            "(key) => WPP.chat.getMessageById([key]).then(([m]) => WPP.chat.getMessageById(m.id)).then((m) => m.body)",
            live["id"],
        )
        == "live"
    )

    missing = f"false_{ANA_WID}_3EB0000000000000DEAD"
    error = await wa.rejection("(key) => WPP.chat.getMessageById(key)", missing)
    # wa-js: WPPError('msg_not_found', `Message ${id} not found`): match on the code, not on the text.
    assert error == {"code": "msg_not_found", "message": f"Message {missing} not found"}
    error = await wa.rejection("() => WPP.chat.getMessageById('false_15559999999@c.us_3EB0000000000000BEEF')")
    assert error is not None and error["code"] == "chat_not_found"
