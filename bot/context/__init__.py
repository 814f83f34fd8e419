"""The context a reply is written in: who the contact is to the operator, how they write, the operator's time.

Nothing is re-exported here: bot.settings imports bot.context.situation, and bot.storage imports bot.settings,
so importing the storage models from this package's __init__ would make an import cycle.
"""
