"""REST API of the inventory app."""
