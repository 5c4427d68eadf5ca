"""MQTT events for a fleet: tracks appearing and ending, counts per class, stats, availability.

Topics under ``mqtt.topic_prefix`` (default ``pi-vision/<hostname>``):
  events            {"event": "new", "id", "class", "box", "score", "time"} when a track is
                    confirmed; {"event": "end", "id", "class", "duration_s", "best_score",
                    "first_box", "last_box", "time"} when it has been gone for END_AFTER_S
  objects/<class>   how many of the class are tracked now (retained)
  stats             each stats line (JSON), and the summary at exit
  availability      "online", or "offline" (retained; also the broker's last will)
With ``mqtt.discovery`` each class also gets a Home Assistant sensor (MQTT discovery).

paho-mqtt's network thread connects and reconnects with backoff. Messages wait in a
bounded queue of ours that keeps the newest and counts what it drops, so a broker that is
down never blocks or grows the detection loop.
"""
from __future__ import annotations

import collections
import json
import logging
import socket
import threading
import time

import paho.mqtt.client as paho

from pi_vision.detection.labels import label_name
from pi_vision.detections import Detections
from pi_vision.errors import UserError
from pi_vision.sources import Frame

log = logging.getLogger(__name__)

# A track missing from the output this long has ended (it may coast, unseen, a while first).
END_AFTER_S = 2.0
QUEUE_MAX = 1000
RECONNECT_MIN_S, RECONNECT_MAX_S = 1, 60


def default_prefix() -> str:
    return f"pi-vision/{socket.gethostname()}"


class MqttPublisher:
    name = "mqtt"
    needs_image = False

    def __init__(self, host: str, port: int = 1883, labels: list[str] = (), username: str = "", password: str = "",
                 tls: bool = False, topic_prefix: str = "", client_id: str = "", discovery: bool = False):
        if ":" in host:
            host, _, given = host.rpartition(":")
            if not given.isdigit():
                raise UserError(f"mqtt error: {host}:{given} is not HOST[:PORT]; use for example --mqtt broker.lan:1883")
            port = int(given)
        self.labels = list(labels)
        self.prefix = (topic_prefix or default_prefix()).rstrip("/")
        self.client_id = client_id or f"pi-vision-{socket.gethostname()}"
        self.discovery = discovery
        self.dropped = 0
        self.sent = 0
        self._queue: collections.deque = collections.deque()
        self._cond = threading.Condition()
        self._connected = threading.Event()
        self._closing = threading.Event()
        self._tracks: dict[int, dict] = {}  # id -> first/last box, best score, times
        self._counts: dict[str, int] = {}
        self._announced: set[str] = set()
        self._last_sent: paho.MQTTMessageInfo | None = None
        client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=self.client_id)
        if username:
            client.username_pw_set(username, password or None)
        if tls:
            client.tls_set()
        client.will_set(self.topic("availability"), "offline", qos=1, retain=True)
        client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        self._client = client
        try:
            client.connect_async(host, port, keepalive=30)
        except (OSError, ValueError) as e:
            raise UserError(f"mqtt error: cannot use broker {host}:{port} ({e}); check --mqtt HOST[:PORT]")
        client.loop_start()
        self._sender = threading.Thread(target=self._send_loop, name="mqtt-send", daemon=True)
        self._sender.start()
        log.info("mqtt: publishing to %s:%d under %s/ (queue %d, newest kept)", host, port, self.prefix, QUEUE_MAX)

    def topic(self, leaf: str) -> str:
        return f"{self.prefix}/{leaf}"

    # ---------------------------------------------------------------- Output
    def write(self, frame: Frame, detections: Detections) -> None:
        now = time.time()
        h, w = frame.image.shape[:2]
        seen = set()
        counts: dict[str, int] = collections.Counter()
        for box, score, cls, tid in zip(detections.boxes_in_pixels(w, h), detections.scores, detections.class_ids,
                                        detections.track_ids):
            label = label_name(self.labels, int(cls))
            counts[label] += 1
            if tid < 0:
                continue
            tid, box, score = int(tid), [round(float(v), 1) for v in box], round(float(score), 3)
            seen.add(tid)
            track = self._tracks.get(tid)
            if track is None:
                self._tracks[tid] = {"class": label, "first_box": box, "last_box": box, "best_score": score,
                                     "start": now, "last_seen": now}
                self._publish("events", {"event": "new", "id": tid, "class": label, "box": box, "score": score,
                                         "time": round(now, 3)})
            else:
                track.update(last_box=box, last_seen=now, best_score=max(track["best_score"], score))
        for tid in [t for t, track in self._tracks.items() if t not in seen and now - track["last_seen"] > END_AFTER_S]:
            self._end(tid)
        for label in set(counts) | set(self._counts):
            if counts.get(label, 0) != self._counts.get(label):
                self._announce(label)
                self._publish(f"objects/{label}", counts.get(label, 0), retain=True)
        self._counts = dict(counts)

    def on_stats(self, data: dict) -> None:
        self._publish("stats", data)

    def stats(self) -> dict:
        """For the stats line: messages sent, and dropped while the broker was away."""
        return {"mqtt_connected": self._connected.is_set(), "mqtt_sent": self.sent, "mqtt_dropped": self.dropped}

    def close(self) -> None:
        for tid in list(self._tracks):
            self._end(tid)
        self._publish("availability", "offline", retain=True)
        self._closing.set()
        with self._cond:
            self._cond.notify_all()
        self._sender.join(timeout=2.0)  # flush what can go out
        if self._last_sent is not None and self._connected.is_set():
            try:  # paho sends on its own thread: let the last messages leave before the DISCONNECT
                self._last_sent.wait_for_publish(timeout=2.0)
            except (RuntimeError, ValueError):
                pass
        self._client.disconnect()
        self._client.loop_stop()
        log.info("mqtt: %d messages sent, %d dropped while the broker was away", self.sent, self.dropped)

    # ---------------------------------------------------------------- internals
    def _end(self, tid: int) -> None:
        track = self._tracks.pop(tid)
        self._publish("events", {"event": "end", "id": tid, "class": track["class"],
                                 "duration_s": round(track["last_seen"] - track["start"], 2),
                                 "best_score": track["best_score"], "first_box": track["first_box"],
                                 "last_box": track["last_box"], "time": round(track["last_seen"], 3)})

    def _announce(self, label: str) -> None:
        """Home Assistant MQTT discovery: a sensor per class, once per connection."""
        if not self.discovery or label in self._announced:
            return
        self._announced.add(label)
        uid = f"{self.client_id}_{label}".replace(" ", "_")
        self._publish(f"homeassistant/sensor/{uid}/config", {
            "name": f"{label} count", "unique_id": uid, "state_topic": self.topic(f"objects/{label}"),
            "availability_topic": self.topic("availability"), "unit_of_measurement": "objects",
            "device": {"identifiers": [self.client_id], "name": self.client_id}}, retain=True, absolute=True)

    def _publish(self, leaf: str, payload, retain: bool = False, absolute: bool = False) -> None:
        body = payload if isinstance(payload, (str, int)) else json.dumps(payload)
        with self._cond:
            if len(self._queue) >= QUEUE_MAX:
                self._queue.popleft()  # the oldest goes: the newest state matters most
                self.dropped += 1
            self._queue.append((leaf if absolute else self.topic(leaf), str(body), retain))
            self._cond.notify()

    def _send_loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: (self._queue and self._connected.is_set()) or self._closing.is_set(),
                                    timeout=1.0)
                if self._closing.is_set() and (not self._queue or not self._connected.is_set()):
                    return
                if not (self._queue and self._connected.is_set()):
                    continue
                topic, body, retain = self._queue.popleft()
            info = self._client.publish(topic, body, qos=1 if retain or topic.endswith("/events") else 0,
                                        retain=retain)
            if info.rc == paho.MQTT_ERR_SUCCESS:
                self.sent += 1
                self._last_sent = info
            else:  # lost the connection between the check and the publish: try it again later
                with self._cond:
                    self._queue.appendleft((topic, body, retain))
                time.sleep(0.1)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.warning("mqtt: broker refused the connection: %s", reason_code)
            return
        log.info("mqtt: connected")
        self._announced.clear()
        client.publish(self.topic("availability"), "online", qos=1, retain=True)
        self._connected.set()
        with self._cond:
            self._cond.notify_all()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._connected.clear()
        if not self._closing.is_set():
            log.warning("mqtt: disconnected (%s); reconnecting with backoff, %d messages waiting", reason_code,
                        len(self._queue))
