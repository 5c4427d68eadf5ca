"""The Pi camera source against a fake picamera2 module (the device is faked, not the code)."""
import sys
import types

import cv2
import numpy as np
import pytest

from pi_vision.config import SourceConfig
from pi_vision.errors import UserError
from pi_vision.sources import open_source
from pi_vision.sources.picamera2_source import Picamera2Source, lores_size


class _Request:
    def __init__(self, camera):
        self.camera = camera

    def make_array(self, name):
        w, h = self.camera.config[name]["size"]
        if name == "lores" and self.camera.config["lores"]["format"] == "YUV420":
            bgr = np.full((h, w, 3), (30, 60, 200), np.uint8)  # a red-orange scene
            return cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)
        return np.full((h, w, 3), (30, 60, 200), np.uint8)

    def release(self):
        self.camera.released += 1


def _fake_module(cameras=1, busy=False, rgb_lores=False):
    class Picamera2:
        instances = []

        @staticmethod
        def global_camera_info():
            return [{"Model": "imx708"}] * cameras

        def __init__(self):
            if busy:
                raise RuntimeError("Failed to acquire camera: Device or resource busy")
            self.released = 0
            self.started = self.closed = False
            Picamera2.instances.append(self)

        def create_video_configuration(self, main, lores, buffer_count, controls):
            return {"main": main, "lores": lores, "buffer_count": buffer_count, "controls": controls}

        def configure(self, config):
            if config["lores"]["format"] != "YUV420" and not rgb_lores:
                raise RuntimeError("lores stream must be YUV on this device")  # Pi 4 behaviour
            self.config = config

        def start(self):
            self.started = True

        def capture_request(self):
            return _Request(self)

        def stop(self):
            self.started = False

        def close(self):
            self.closed = True

    return types.SimpleNamespace(Picamera2=Picamera2)


@pytest.mark.parametrize("rgb_lores", [False, True], ids=["pi4-yuv-lores", "pi5-rgb-lores"])
def test_main_and_lores_streams(monkeypatch, rgb_lores):
    module = _fake_module(rgb_lores=rgb_lores)
    monkeypatch.setitem(sys.modules, "picamera2", module)
    source = Picamera2Source(SourceConfig(width=1280, height=720), detect_size=(300, 300))
    source.open()
    camera = module.Picamera2.instances[0]
    assert camera.config["buffer_count"] == 2 and camera.started
    main, lores = source.read()
    assert main.shape == (720, 1280, 3)
    assert lores.shape == (300, 300, 3)
    # The YUV420 low-res stream is converted to the same BGR as the main stream.
    np.testing.assert_allclose(lores.reshape(-1, 3).mean(0), (30, 60, 200), atol=4)
    assert camera.released == 1
    source.close()
    assert camera.closed


def test_auto_prefers_the_pi_camera(monkeypatch):
    monkeypatch.setitem(sys.modules, "picamera2", _fake_module())
    source = open_source(SourceConfig(spec="auto"), (300, 300))
    assert source.name == "picamera2"
    source.close()


@pytest.mark.parametrize("module, message", [
    (None, "sudo apt install python3-picamera2"),
    (_fake_module(cameras=0), "no Pi camera detected"),
    (_fake_module(busy=True), "stop other programs using it"),
])
def test_camera_problems_are_user_errors(monkeypatch, module, message):
    monkeypatch.setitem(sys.modules, "picamera2", module)  # None makes the import fail
    with pytest.raises(UserError, match=message):
        Picamera2Source(SourceConfig(), (300, 300)).open()


@pytest.mark.parametrize("detect, main, expected", [
    ((300, 300), (640, 480), (300, 300)),
    ((159, 161), (640, 480), (162, 160)),
    ((300, 300), (320, 240), (300, 240)),
])
def test_lores_size(detect, main, expected):
    assert lores_size(detect, main) == expected
