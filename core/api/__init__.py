"""API plumbing shared by every app: error handler, pagination, idempotency, health."""
