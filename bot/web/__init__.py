"""The aiohttp web app: JSON API, simulator page, later the dashboard."""
