"""A fake web.whatsapp.com (with a wa-js compatible window.WPP) and a fake Gemini API, for demos and tests."""

from bot.simulator.server import Simulator

__all__ = ["Simulator"]
