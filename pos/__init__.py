"""POS: store terminals, their change feeds for selling offline, and sale sync (an edge app)."""
