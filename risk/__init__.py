"""Risk layer: shared numeric rules (rules.py) and the live RiskManager over them."""

from risk.config import RiskConfig
from risk.manager import RiskManager
from risk.state import Approval, HaltKind, RiskEvent, RiskEventKind, RiskState

__all__ = [
    "Approval",
    "HaltKind",
    "RiskConfig",
    "RiskEvent",
    "RiskEventKind",
    "RiskManager",
    "RiskState",
]
