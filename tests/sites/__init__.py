"""Small local test sites served over real HTTP on 127.0.0.1 (see server.py)."""
