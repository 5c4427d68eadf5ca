"""Frame sources: Pi camera, V4L2/USB cameras, video files and streams, and a demo scene.

``open_source`` picks one from ``--source`` and opens it, so a bad source fails at
start-up with a one-line error instead of inside the capture thread.
"""
from __future__ import annotations

import logging

from pi_vision.config import SourceConfig
from pi_vision.errors import SourceUnavailable, UserError
from pi_vision.sources.base import FrameSource
from pi_vision.sources.capture import CaptureThread
from pi_vision.sources.demo_source import DemoSource
from pi_vision.sources.frame import Frame, LatestFrameSlot
from pi_vision.sources.opencv_source import OpenCVSource
from pi_vision.sources.picamera2_source import Picamera2Source, camera_present

log = logging.getLogger(__name__)

__all__ = ["CaptureThread", "Frame", "FrameSource", "LatestFrameSlot", "describe", "open_source"]


def _make(spec: str, config: SourceConfig, detect_size: tuple[int, int]) -> FrameSource:
    if spec == "demo":
        return DemoSource(config)
    if spec == "picamera2":
        return Picamera2Source(config, detect_size)
    return OpenCVSource(spec, config)


def describe(spec: str) -> str:
    """How logs name a source that could not be opened yet."""
    spec = spec.strip()
    return f"camera {spec}" if spec.isdigit() else spec


def open_source(config: SourceConfig, detect_size: tuple[int, int]) -> FrameSource:
    """Create and open the source named by ``config.spec``; ``detect_size`` is the model's (h, w)."""
    spec = config.spec.strip()
    if spec == "auto":
        if camera_present():
            spec = "picamera2"
        else:
            probe = OpenCVSource("0", config)
            try:
                probe.open()
            except UserError:
                raise SourceUnavailable("source error: no camera found (no Pi camera, no /dev/video0); "
                                "use --source demo for the built-in scene or --source PATH for a video") from None
            log.info("source auto: using camera 0")
            return probe
    source = _make(spec, config, detect_size)
    source.open()
    return source
