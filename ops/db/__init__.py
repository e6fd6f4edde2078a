"""Database backends that count statements for the metrics (`METRICS_ENABLED`)."""
