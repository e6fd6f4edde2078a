"""Shared plumbing: the base domain error, money helpers, API error handling, pagination."""
