"""The township dashboard: one module per page, each with its JSON routes beside it."""
