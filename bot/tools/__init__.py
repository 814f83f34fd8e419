"""The operator's tools: command-line commands that work on the bot's data in MongoDB (contacts, personas,
knowledge), next to the daemon or without it. Each module adds its commands to the `run_bot.py` parser."""
