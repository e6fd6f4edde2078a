"""REST API of the pricing app."""
