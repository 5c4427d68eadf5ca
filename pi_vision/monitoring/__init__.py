"""Monitoring: per-stage latency percentiles, FPS, drops and system stats for the log."""
