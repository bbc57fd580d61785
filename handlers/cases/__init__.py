"""The closed loop of a case: its states and transitions, the actions on it, relays, timers."""
