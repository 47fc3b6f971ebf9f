"""Reaching the bot from elsewhere: Telegram commands and the web dashboard.

Both go through trading/control.py: commands are rows in the journal's queue, views are read
through a read-only connection. Nothing here runs inside the trading loop's thread.
"""
