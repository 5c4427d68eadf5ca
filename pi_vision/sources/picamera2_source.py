"""The Raspberry Pi camera through picamera2 (libcamera), imported only when used."""
from __future__ import annotations

import logging

import cv2
import numpy as np

from pi_vision.config import SourceConfig
from pi_vision.errors import SourceUnavailable, UserError

log = logging.getLogger(__name__)

# Two buffers: one being filled, one completed. More would only hold older frames.
BUFFER_COUNT = 2


def import_picamera2():
    """The Picamera2 class, or None when the module is not installed (it is not on PyPI for x86)."""
    try:
        from picamera2 import Picamera2
    except ImportError:
        return None
    return Picamera2


def camera_present() -> bool:
    picamera2 = import_picamera2()
    try:
        return bool(picamera2 and picamera2.global_camera_info())
    except Exception:  # noqa: BLE001 - libcamera errors mean "no usable camera" here
        return False


def lores_size(detect_size: tuple[int, int], main_size: tuple[int, int]) -> tuple[int, int]:
    """(width, height) of the low-res stream: the model's input size, even, no larger than main."""
    h, w = detect_size
    mw, mh = main_size
    return min(mw, w + w % 2), min(mh, h + h % 2)


class Picamera2Source:
    """A main stream at display resolution plus a low-res stream at the model's size.

    The ISP scales the low-res stream for free, so the detector skips its resize. Pi 4
    and older only allow YUV420 for that stream; it is converted here (cheap at 300 px).
    """

    live = True

    def __init__(self, config: SourceConfig, detect_size: tuple[int, int]):
        self.config = config
        self.detect_size = detect_size
        self.name = "picamera2"
        self.fps: float | None = config.fps
        self._camera = None
        self._lores_yuv = False

    def open(self) -> None:
        picamera2 = import_picamera2()
        if picamera2 is None:
            raise UserError("camera error: picamera2 is not installed; on Raspberry Pi OS run "
                            "`sudo apt install python3-picamera2` and create the venv with --system-site-packages")
        if not picamera2.global_camera_info():
            raise SourceUnavailable("camera error: no Pi camera detected; check the ribbon cable and `rpicam-hello "
                            "--list-cameras`, or use --source 0 / --source demo")
        try:
            self._camera = picamera2()
        except Exception as e:  # noqa: BLE001 - libcamera reports "busy" and others as RuntimeError/IndexError
            raise SourceUnavailable(f"camera error: cannot open the Pi camera ({e}); stop other programs using it "
                            f"(another pi-vision, rpicam-apps) and retry")
        main = (self.config.width, self.config.height)
        lores = lores_size(self.detect_size, main)
        controls = {"FrameRate": self.config.fps}
        for lores_format in ("RGB888", "YUV420"):
            try:
                cfg = self._camera.create_video_configuration(
                    main={"size": main, "format": "RGB888"}, lores={"size": lores, "format": lores_format},
                    buffer_count=BUFFER_COUNT, controls=controls)
                self._camera.configure(cfg)
                self._lores_yuv = lores_format == "YUV420"
                break
            except Exception as e:  # noqa: BLE001 - Pi 4 rejects an RGB low-res stream
                log.debug("picamera2 rejected lores %s: %s", lores_format, e)
        else:
            self.close()
            raise UserError("camera error: the Pi camera rejected the stream configuration; try another "
                            "--width/--height")
        self._camera.start()
        log.info("source picamera2: main %dx%d, lores %dx%d %s", *main, *lores, "YUV420" if self._lores_yuv else "RGB")

    def read(self) -> tuple[np.ndarray, np.ndarray]:
        if self._camera is None:
            raise OSError("not open")
        try:
            request = self._camera.capture_request()
        except Exception as e:  # noqa: BLE001 - any libcamera failure is a camera hiccup to recover from
            raise OSError(str(e)) from e
        try:
            # "RGB888" is laid out B, G, R in memory: already OpenCV's order.
            main = request.make_array("main")
            lores = request.make_array("lores")
        finally:
            request.release()
        if self._lores_yuv:
            lores = cv2.cvtColor(lores, cv2.COLOR_YUV2BGR_I420)
        elif lores.shape[2] == 4:
            lores = lores[:, :, :3]
        return main, lores

    def close(self) -> None:
        if self._camera is not None:
            try:
                self._camera.stop()
                self._camera.close()
            finally:
                self._camera = None
