"""Chat commands: what matches (parser), who may (permissions), and what it does (handler)."""
