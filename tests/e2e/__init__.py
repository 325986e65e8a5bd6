"""End-to-end tests: the service, the desktop and the widget in a real browser."""
