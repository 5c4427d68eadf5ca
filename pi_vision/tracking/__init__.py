"""Tracking: Detections in, the same with track ids out."""
