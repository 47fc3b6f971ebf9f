"""The trading loop layer: composes data, signals, scorer, risk, execution and the journal."""
