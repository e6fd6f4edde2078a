"""Demo: the commands that build the demo shop from every app's `demo.py` (top of the graph)."""
