"""The web dashboard: a small FastAPI app that shows the bot's journal and queues commands.

- auth.py: the tokens from ``TRADINGBOT_DASHBOARD_TOKENS``, who may read and who may command,
  and the per-address limit on failed attempts.
- app.py: the JSON API and the page; every read through a ``JournalReader`` of its own,
  every command through ``trading.control.post``.
- server.py: uvicorn in its own thread, for ``main.py dashboard`` and ``run --dashboard``.

Nothing here is imported unless the dashboard is asked for.
"""
