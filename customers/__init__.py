"""Customers: the custom user model (login by email or phone) and, later, the unified profile."""
