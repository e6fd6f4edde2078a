"""REST API of the loyalty app."""
