"""Customers: logins by email or phone, the one profile across channels, consents, merges."""
