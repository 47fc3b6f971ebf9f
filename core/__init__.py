"""Domain centre: errors, clocks and values every layer shares. Depends on nothing else here."""
