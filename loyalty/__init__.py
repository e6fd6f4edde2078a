"""Loyalty: one points account per customer, the append-only points ledger, earn/redeem rules."""
