"""The manager's page in a browser: every service's state, and a page per service with its history."""

from mlseam.dashboard.app import create_dashboard_app
from mlseam.dashboard.pages import Reader

__all__ = ["Reader", "create_dashboard_app"]
