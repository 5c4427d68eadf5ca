"""Tell systemd how the service is doing: ready, alive (watchdog) and a status line.

The documented notify protocol (sd_notify(3)): newline-separated ``KEY=VALUE`` datagrams
to the AF_UNIX socket named by ``$NOTIFY_SOCKET`` (a leading "@" means the abstract
namespace). Outside systemd the variable is unset and every call does nothing.
"""
from __future__ import annotations

import logging
import os
import socket
import time

log = logging.getLogger(__name__)


class SystemdNotifier:
    def __init__(self, environ: dict | None = None, clock=time.monotonic):
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        self._address = "\0" + address[1:] if address.startswith("@") else address
        self._clock = clock
        self._socket: socket.socket | None = None
        if self._address:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        # Ping at half the watchdog period, as sd_watchdog_enabled(3) advises; only if the
        # watchdog is meant for this process.
        usec = env.get("WATCHDOG_USEC")
        pid = env.get("WATCHDOG_PID")
        self.watchdog_interval = (int(usec) / 2e6 if usec and usec.isdigit() and (not pid or pid == str(os.getpid()))
                                  else None)
        self._last_ping = float("-inf")
        self.ready_sent = False

    @property
    def enabled(self) -> bool:
        return self._socket is not None

    def ready(self) -> None:
        if not self.ready_sent:
            self.ready_sent = self._send("READY=1")
            if self.ready_sent:
                log.info("told systemd the service is ready")

    def watchdog(self) -> None:
        """Say "still alive"; rate-limited, so call it as often as there is progress."""
        if self.watchdog_interval is None:
            return
        now = self._clock()
        if now - self._last_ping >= self.watchdog_interval:
            self._last_ping = now
            self._send("WATCHDOG=1")

    def status(self, text: str) -> None:
        self._send("STATUS=" + text.replace("\n", " "))

    def stopping(self) -> None:
        self._send("STOPPING=1")

    def _send(self, message: str) -> bool:
        if self._socket is None:
            return False
        try:
            self._socket.sendto(message.encode(), self._address)
            return True
        except OSError as e:  # systemd gone or the socket full: never worth stopping detection for
            log.debug("notify %r failed: %s", message, e)
            return False

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
