"""Public read API of the catalog."""
