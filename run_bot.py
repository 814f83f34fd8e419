#!/usr/bin/env python3
"""Entry point of the WhatsApp bot daemon: python run_bot.py [run|demo] --help."""

import sys

from bot.cli import main

if __name__ == "__main__":
    sys.exit(main())
