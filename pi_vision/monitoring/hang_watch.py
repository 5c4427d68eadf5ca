"""Names a call that does not return: an ``invoke`` stuck in the runtime leaves a process
that is alive but does nothing, and the thread that would log it is the stuck one.

A watcher thread checks the guarded call; past ``after`` seconds it logs once, naming the
call. It does not try to end the call (Python cannot): the systemd watchdog, no longer
pinged by the stuck loop, restarts the service.
"""
from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Iterator

log = logging.getLogger(__name__)


class HangWatch:
    def __init__(self, after: float, poll: float = 0.5):
        self.after = after
        self.poll = poll
        self.hangs = 0
        self._current: tuple[str, float] | None = None
        self._warned = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="hang-watch", daemon=True)

    def __enter__(self) -> "HangWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=2 * self.poll)

    @contextlib.contextmanager
    def guard(self, what: str) -> Iterator[None]:
        self._current, self._warned = (what, time.monotonic()), False
        try:
            yield
        finally:
            self._current = None

    def _watch(self) -> None:
        while not self._stop.wait(self.poll):
            current = self._current
            if current is None or self._warned:
                continue
            what, started = current
            if time.monotonic() - started > self.after:
                self._warned = True
                self.hangs += 1
                log.error("%s has not returned for %.0f s; the service watchdog restarts it if it never does",
                          what, time.monotonic() - started)
