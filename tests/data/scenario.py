"""The market the fetcher tests play in, shared by fixtures and assertions."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

# The fake's history runs from 2023-09-01 00:00 for 8000 hourly bars (to 2024-07-29); the clock
# starts at 2024-04-15 00:30, so the 00:00 bar is still forming and 23:00 is the latest closed
# (5,448 closed bars by then).
HISTORY_START = pd.Timestamp("2023-09-01", tz="UTC")
NOW = datetime(2024, 4, 15, 0, 30, tzinfo=UTC)
LATEST_CLOSED = pd.Timestamp("2024-04-14 23:00", tz="UTC")
