"""Live monitoring: each version's quality on labelled live predictions, and drift of the live inputs."""

from mlseam.monitoring.monitor import MIN_DRIFT_WINDOW, MonitorResult, monitor_service

__all__ = ["MIN_DRIFT_WINDOW", "MonitorResult", "monitor_service"]
