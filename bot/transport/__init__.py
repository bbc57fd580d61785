"""Chat transports behind one interface: the built-in simulator, later Wechaty."""
