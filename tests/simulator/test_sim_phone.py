"""The /phone page a person uses in the demo, driven in a real browser next to a bot page."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page

from bot.simulator import Simulator

ANA_WID = "15551234567@c.us"


@pytest.fixture
async def phone(browser: Browser, simulator: Simulator) -> AsyncIterator[Page]:
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(simulator.phone_url)
    yield page
    await context.close()


async def test_phone_links_the_bot_and_chats_with_it(open_page, phone: Page, call_api) -> None:
    bot = await open_page()
    await phone.locator("#status", has_text="page showing a QR").wait_for(timeout=5000)
    await phone.locator("#link").click()
    await bot.log.wait_count("conn.main_ready")
    await phone.locator("#status", has_text="linked, CONNECTED, 1 page ready").wait_for(timeout=5000)

    await phone.locator("#text").fill("Hi bot, it's Ana")
    await phone.locator("#compose button").click()
    [incoming] = await bot.log.wait_count("chat.new_message")
    assert incoming["body"] == "Hi bot, it's Ana" and incoming["notifyName"] == "Ana"
    assert incoming["from"]["_serialized"] == ANA_WID
    # Delivered to the bot: the phone shows two ticks on Ana's message.
    await phone.locator(".bubble.mine .tick.ack-2").wait_for(timeout=5000)

    await bot.js(f"() => WPP.chat.markIsComposing('{ANA_WID}')")
    await phone.locator("#typing").wait_for(state="visible", timeout=5000)
    await bot.js(f"() => WPP.chat.markIsRead('{ANA_WID}')")
    await phone.locator(".bubble.mine .tick.ack-3").wait_for(timeout=5000)

    sent = await bot.js(f"() => WPP.chat.sendTextMessage('{ANA_WID}', 'Hello Ana!')")
    await phone.locator(".bubble:not(.mine)", has_text="Hello Ana!").wait_for(timeout=5000)
    await phone.locator("#typing").wait_for(state="hidden", timeout=5000)
    # The phone showed the reply: READ reaches the bot as an ack change, and the sent log says so.
    await bot.log.wait_for(lambda _: 3 in [change["ack"] for change in bot.log.payloads("chat.msg_ack_change")])
    [entry] = await call_api("GET", "api/sent?to=15551234567")
    assert entry["id"] == sent["id"] and entry["ack"] == 3


async def test_phone_reports_a_failed_link(phone: Page) -> None:
    await phone.locator("#link").click()
    await phone.locator("#notice", has_text="no page is showing a QR code").wait_for(timeout=5000)
