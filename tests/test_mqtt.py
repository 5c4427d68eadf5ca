"""MQTT against a real Mosquitto broker on a free loopback port, started by the tests."""
from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as paho
import pytest

from fakes import free_port
from pi_vision import app
from pi_vision.config import Config, DetectorConfig, MonitorConfig, MqttConfig, OutputConfig, RunConfig, SourceConfig
from pi_vision.outputs import mqtt as mqtt_mod

REPO = Path(__file__).resolve().parent.parent
PREFIX = "test/pi"


class Broker:
    def __init__(self, tmp_path: Path):
        self.port = free_port()
        self.conf = tmp_path / "mosquitto.conf"
        self.conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([shutil.which("mosquitto"), "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        end = time.monotonic() + 10
        while time.monotonic() < end:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=5)
            self.proc = None


@pytest.fixture
def broker(tmp_path):
    if shutil.which("mosquitto") is None:
        reason = "mosquitto is not installed (apt-get install mosquitto)"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the MQTT tests: {reason}")
        pytest.skip(reason)
    b = Broker(tmp_path)
    b.start()
    yield b
    b.stop()


class Listener:
    """Every message under the test prefix, as (topic, payload text, retained)."""

    def __init__(self, port: int):
        self.messages: list[tuple[str, str, bool]] = []
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"listener-{port}")
        self.client.on_connect = lambda c, *a: c.subscribe(f"{PREFIX}/#", qos=1)
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, m.payload.decode(), m.retain))
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        time.sleep(0.3)

    def events(self) -> list[dict]:
        return [json.loads(p) for t, p, _ in self.messages if t == f"{PREFIX}/events"]

    def wait_for(self, condition, timeout: float = 15.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end and not condition():
            time.sleep(0.05)
        assert condition(), self.messages[-10:]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _config(port: int, tmp_path: Path, data_dir: Path, frames: int) -> Config:
    return Config(source=SourceConfig(spec=str(data_dir / "videos" / "vtest.avi")),
                  detector=DetectorConfig(model="ssd_mbv1_0.5_160"),
                  output=OutputConfig(events=str(tmp_path / "e.jsonl")), monitor=MonitorConfig(log_interval=0.5),
                  mqtt=MqttConfig(host="127.0.0.1", port=port, topic_prefix=PREFIX),
                  run=RunConfig(max_frames=frames))


def _event_file_ids(tmp_path: Path) -> set[int]:
    lines = (tmp_path / "e.jsonl").read_text().splitlines()
    return {obj["id"] for line in lines for obj in json.loads(line)["objects"]}


def test_new_and_end_events_pair_up_with_the_tracks_of_a_video_run(broker, tmp_path, data_dir):
    listener = Listener(broker.port)
    app.run(_config(broker.port, tmp_path, data_dir, 200))
    listener.wait_for(lambda: (PREFIX + "/availability", "offline", True) in listener.messages
                      or (PREFIX + "/availability", "offline", False) in listener.messages)
    listener.close()
    events = listener.events()
    new = [e["id"] for e in events if e["event"] == "new"]
    end = [e["id"] for e in events if e["event"] == "end"]
    tracked = _event_file_ids(tmp_path)
    assert tracked and sorted(new) == sorted(end) == sorted(tracked)  # one new and one end per track
    first = next(e for e in events if e["event"] == "end")
    assert {"class", "duration_s", "best_score", "first_box", "last_box"} <= set(first)
    topics = {t for t, _, _ in listener.messages}
    assert f"{PREFIX}/stats" in topics and f"{PREFIX}/objects/person" in topics
    assert (f"{PREFIX}/availability", "online", False) in listener.messages  # published on connect


def test_a_broker_that_goes_away_loses_no_frame_and_the_app_reconnects(broker, tmp_path, data_dir, monkeypatch,
                                                                       caplog):
    monkeypatch.setattr(mqtt_mod, "QUEUE_MAX", 5)  # so the outage overflows the queue
    monkeypatch.setattr(mqtt_mod, "RECONNECT_MAX_S", 1)
    frames = 150  # 15 s of vtest.avi at its 10 fps
    config = _config(broker.port, tmp_path, data_dir, frames)
    config = Config(**{**config.__dict__, "source": SourceConfig(spec=config.source.spec, realtime=True)})
    summary: dict = {}

    def outage():
        time.sleep(2)
        broker.stop()
        time.sleep(4)
        broker.start()

    threading.Thread(target=outage, daemon=True).start()
    with caplog.at_level(logging.INFO):
        summary.update(app.run(config))
    assert summary["frames"] + summary["dropped"] >= frames * 0.95  # the loop went on through the outage
    assert caplog.text.count("mqtt: connected") >= 2, caplog.text
    assert "disconnected" in caplog.text
    dropped = [line for line in caplog.text.splitlines() if "dropped while the broker was away" in line]
    assert dropped and int(dropped[0].split(", ")[1].split()[0]) > 0 and summary["mqtt_dropped"] > 0, dropped
    print(f"{dropped[0]}; frames {summary['frames']}, dropped frames {summary['dropped']}")


def test_the_last_will_says_offline_when_the_app_is_killed(broker, tmp_path, data_dir):
    listener = Listener(broker.port)
    proc = subprocess.Popen([sys.executable, "-m", "pi_vision", "--source", "demo", "--mqtt",
                             f"127.0.0.1:{broker.port}", "--mqtt-topic-prefix", PREFIX], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        listener.wait_for(lambda: (f"{PREFIX}/availability", "online", False) in listener.messages)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=5)
        listener.wait_for(lambda: any(t == f"{PREFIX}/availability" and p == "offline"
                                      for t, p, _ in listener.messages))
    finally:
        proc.kill()
        listener.close()
