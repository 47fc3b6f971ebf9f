"""Journal: the SQLite audit trail (runs, decisions, LLM calls, orders, fills, equity, halts,
refusals), the saved state a restart comes back from, and the operator's command queue."""

from core.paths import STATE_DIR_ENV
from journal.errors import (
    DuplicateClientIdError,
    JournalBusyError,
    JournalError,
    UnknownOrderError,
)
from journal.queries import CSV_COLUMNS
from journal.records import (
    OPEN_STOPS_KEY,
    PAPER_WALLET_KEY,
    RISK_STATE_KEY,
    TOTAL,
    Action,
    Actor,
    Command,
    CommandKind,
    DecisionRecord,
    DecisionRow,
    EquityRow,
    EquitySnapshot,
    HaltEventKind,
    HaltInForce,
    HaltRow,
    Position,
    RefusalRow,
    RunMode,
    RunRow,
    Trade,
    last_bar_key,
)
from journal.schema import LATEST_VERSION, default_journal_path
from journal.store import Journal

__all__ = [
    "CSV_COLUMNS",
    "LATEST_VERSION",
    "OPEN_STOPS_KEY",
    "PAPER_WALLET_KEY",
    "RISK_STATE_KEY",
    "STATE_DIR_ENV",
    "TOTAL",
    "Action",
    "Actor",
    "Command",
    "CommandKind",
    "DecisionRecord",
    "DecisionRow",
    "DuplicateClientIdError",
    "EquityRow",
    "EquitySnapshot",
    "HaltEventKind",
    "HaltInForce",
    "HaltRow",
    "Journal",
    "JournalBusyError",
    "JournalError",
    "Position",
    "RefusalRow",
    "RunMode",
    "RunRow",
    "Trade",
    "UnknownOrderError",
    "default_journal_path",
    "last_bar_key",
]
