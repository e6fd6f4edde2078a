"""REST API of the customers app."""
