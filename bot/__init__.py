"""Everything that touches the outside world: transports, web app, sender, CLI."""
