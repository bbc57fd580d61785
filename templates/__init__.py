"""Every text a person reads, as jinja2: chat replies (chat/) and web pages (web/)."""
