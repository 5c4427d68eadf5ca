"""USB/V4L2 cameras, video files and network streams through OpenCV (FFmpeg)."""
from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from pi_vision.config import SourceConfig, is_stream
from pi_vision.errors import SourceUnavailable, UserError

log = logging.getLogger(__name__)


# OpenCV's and FFmpeg's own warnings ("[ WARN:0] global cap.cpp ...", "[tcp @ 0x...] Connection
# refused") would print before our one-line errors; what went wrong is in those errors.
# Set before any capture opens; a user who wants FFmpeg's chatter sets the variable first.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET


class OpenCVSource:
    """``spec`` is a camera index ("0"), a video file path or a stream URL."""

    def __init__(self, spec: str, config: SourceConfig):
        self.spec = spec
        self.config = config
        self.is_camera = spec.isdigit()
        self.is_stream = is_stream(spec)
        self.live = self.is_camera or self.is_stream or config.realtime
        self.name = f"camera {spec}" if self.is_camera else spec
        self.fps: float | None = None
        self._cap: cv2.VideoCapture | None = None
        self._next_due = 0.0

    def open(self) -> None:
        if self.is_camera:
            backend = cv2.CAP_V4L2 if sys.platform.startswith("linux") else cv2.CAP_ANY
            cap = cv2.VideoCapture(int(self.spec), backend)
            if not cap.isOpened():
                cap.release()
                raise SourceUnavailable(f"camera error: cannot open camera {self.spec} (/dev/video{self.spec}); check it is "
                                f"plugged in and not used by another program, or use --source demo")
            # MJPG lets USB 2 cameras deliver 640x480 and up at full rate; cameras without it ignore it.
            cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"MJPG"))
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.config.width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.config.height)
            cap.set(cv2.CAP_PROP_FPS, self.config.fps)
            # A deep driver queue would hand us stale frames; keep one.
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        else:
            if not self.is_stream and not Path(self.spec).is_file():
                raise UserError(f"source error: {self.spec} is not a camera index, an existing video file or a "
                                f"stream URL; use --source demo, --source 0 or --source PATH")
            cap = cv2.VideoCapture(self.spec, cv2.CAP_FFMPEG)
            if not cap.isOpened():
                cap.release()
                if self.is_stream:  # a network camera still booting, or the network not up yet
                    raise SourceUnavailable(f"source error: cannot open {self.spec} (unreachable or not a stream); "
                                            f"check the URL and that the camera is on")
                raise UserError(f"source error: cannot open {self.spec} (unsupported format or unreachable "
                                f"stream); check the path/URL or convert the video to MP4")
        self._cap = cap
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = fps if fps and fps > 0 else None
        width, height = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        log.info("source %s: %dx%d at %s fps%s", self.name, width, height,
                 f"{self.fps:.1f}" if self.fps else "unknown", ", paced" if self.config.realtime else "")
        self._next_due = time.monotonic()

    def read(self) -> tuple[np.ndarray, None] | None:
        if self._cap is None:
            raise OSError("not open")
        ok, image = self._cap.read()
        if not ok and not self.is_camera and not self.is_stream and self.config.loop:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, image = self._cap.read()
        if not ok:
            if self.is_camera or self.is_stream:
                raise OSError("no frame from the device")
            return None
        if self.config.realtime and not (self.is_camera or self.is_stream) and self.fps:
            # Pace a file like a camera: a frame is due every 1/fps s.
            self._next_due += 1.0 / self.fps
            delay = self._next_due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                self._next_due = time.monotonic()
        return image, None

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
