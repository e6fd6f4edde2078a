"""Inventory: stores and warehouses, stock levels, the append-only movement ledger, reservations."""
