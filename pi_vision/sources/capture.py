"""The capture thread: reads a source, keeps the newest frame in a slot, and rides out outages.

A live camera can fail in three ways, and each ends the same way (the source is dropped and
opened again with backoff, the time counted as an outage):
- a read raises (USB unplugged, RTSP dropped): the reader reports it;
- a read never returns (a driver stuck in an ioctl, a stream that stops sending): no frame
  for ``stall_timeout`` seconds. Python cannot interrupt that read, so the reader thread is
  abandoned (it exits whenever the read returns, without handing over a frame) and a fresh
  source object is opened beside it;
- it cannot be opened (not plugged in yet, an IP camera still booting after a power cut).
After ``max_outage`` seconds without a frame the thread gives up and ``gave_up`` is set: the
app then exits with a code systemd restarts on.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

import numpy as np

from pi_vision.detection.preprocess import ModelInput
from pi_vision.sources.base import FrameSource
from pi_vision.sources.frame import Frame, LatestFrameSlot

# Resizes a frame to the detector's input (``Detector.resize_for_model``).
Resize = Callable[[np.ndarray], ModelInput]

log = logging.getLogger(__name__)

# Reconnect backoff for a live camera that failed: first wait, and the cap.
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 10.0
# How often the supervisor looks at its reader (stall check, stop flag).
POLL_S = 0.1
# At stop, how long the supervisor waits for the reader's current read before closing the
# source: closing a capture while another thread reads from it is not safe in OpenCV.
READER_STOP_S = 0.5


class CaptureThread(threading.Thread):
    """Runs until ``stop`` is set, a finite source ends or an outage outlasts ``max_outage``;
    owns and closes the source.

    ``source`` is the opened source, or None when it could not be opened at start (the run
    then starts in an outage). ``reopen`` makes a fresh, opened source (raising on failure);
    without it the same object is closed and opened again. With ``resize_for_model``,
    frames are resized to the detector's input here, in parallel with detection of the
    previous frame.
    """

    def __init__(self, source: FrameSource | None, slot: LatestFrameSlot, stop: threading.Event,
                 resize_for_model: Resize | None = None, reopen: Callable[[], FrameSource] | None = None,
                 stall_timeout: float = 10.0, max_outage: float = 0.0, name: str | None = None):
        super().__init__(name="capture", daemon=True)
        if source is None and reopen is None:
            raise ValueError("need a source or a way to open one")
        self.source = source
        self.slot = slot
        self.stop = stop
        self.resize_for_model = resize_for_model
        self._reopen_source = reopen
        self.stall_timeout = stall_timeout
        self.max_outage = max_outage  # 0: never give up
        self.source_name = name or source.name
        self.reconnects = 0
        self.stalls = 0
        self.bad_frames = 0
        self.gave_up = False
        # Outage bookkeeping, read by the loop's stats: an outage lasts from the failure to
        # the first frame after it (a camera that opens but sends nothing is still out).
        self.outages = 0
        self._outage_since: float | None = None if source is not None else time.monotonic()
        self._outage_total = 0.0
        if source is None:
            self.outages = 1
        # Supervisor's pulse: fresh while it runs its loop, stale if it hangs (e.g. in open()).
        self.heartbeat = time.monotonic()
        self._seq = 0
        self._generation = 0
        self._lock = threading.Lock()
        self._last_frame = time.monotonic()
        self._ended: str | None = None  # why the current reader stopped: "failed" | "ended"
        self._reader_done = threading.Event()
        self._reader_done.set()  # no reader yet

    # ---------------------------------------------------------------- health, for stats
    @property
    def camera_ok(self) -> bool:
        return self._outage_since is None

    def outage_seconds(self) -> float:
        """Time spent in outages so far, the current one included."""
        current = time.monotonic() - self._outage_since if self._outage_since is not None else 0.0
        return self._outage_total + current

    def health(self) -> dict:
        return {"camera_ok": self.camera_ok, "outages": self.outages, "outage_s": round(self.outage_seconds(), 1),
                "reconnects": self.reconnects, "stalls": self.stalls, "bad_frames": self.bad_frames}

    # ---------------------------------------------------------------- supervisor
    def run(self) -> None:
        retry = RETRY_FIRST_S
        try:
            while not self.stop.is_set():
                self.heartbeat = time.monotonic()
                if self.source is None:
                    if self.outages == 1 and self._seq == 0 and self._wait(retry):
                        break  # not there at start: the app just tried, so wait before the next try
                    if not self._connect(retry * 2 if self._seq == 0 else retry):
                        break
                    retry = RETRY_FIRST_S
                ended = self._supervise_reader()
                if ended in ("stop", "ended"):
                    break
                if not self.source.live:
                    break  # a file that fails is over; the reader logged why
                self._begin_outage()
                self._drop_source(abandon=ended == "stalled")
                if self._outage_too_long() or self._wait(retry):
                    break
                retry = min(retry * 2, RETRY_MAX_S)
        finally:
            self.slot.close()
            if self.source is not None:
                if self._reader_done.wait(READER_STOP_S):
                    self.source.close()
                else:  # the read is stuck: the process exit releases the device
                    log.warning("%s: a read is still blocked at exit; leaving the device to the process exit",
                                self.source_name)
            self._generation += 1  # any reader still blocked hands nothing over

    def _connect(self, retry: float) -> bool:
        """Open a source, retrying with backoff; False when stopped or the outage is too long."""
        while not self.stop.is_set():
            self.heartbeat = time.monotonic()
            try:
                self.source = self._reopen_source() if self._reopen_source else self._reopen_same()
                if self.outages:
                    self.reconnects += 1
                log.info("%s opened", self.source_name)
                return True
            except Exception as e:  # noqa: BLE001 - any failure to open is retried, never fatal
                log.warning("%s unavailable (%s); retrying in %.1f s", self.source_name, e, retry)
            if self._wait(retry) or self._outage_too_long():
                return False
            retry = min(retry * 2, RETRY_MAX_S)
        return False

    def _wait(self, seconds: float) -> bool:
        """Back off for ``seconds``, but not past ``max_outage``, keeping the pulse; True when stopped."""
        if self.max_outage and self._outage_since is not None:
            seconds = min(seconds, max(0.0, self._outage_since + self.max_outage - time.monotonic()))
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            if self.stop.wait(min(left, 1.0)):
                return True
            self.heartbeat = time.monotonic()
        return self.stop.is_set()

    def _reopen_same(self) -> FrameSource:
        source = self._closed_source
        source.open()
        return source

    def _supervise_reader(self) -> str:
        """Run one reader on the current source: "ended", "failed", "stalled" or "stop"."""
        self._generation += 1
        self._ended = None
        self._reader_done.clear()
        self._last_frame = time.monotonic()
        threading.Thread(target=self._read_loop, args=(self.source, self._generation), name="capture-read",
                         daemon=True).start()
        while not self._reader_done.wait(POLL_S):
            self.heartbeat = time.monotonic()
            if self.stop.is_set():
                return "stop"
            silent = time.monotonic() - self._last_frame
            if self.source.live and self.stall_timeout and silent > self.stall_timeout:
                self.stalls += 1
                log.warning("%s stalled: no frame for %.1f s; abandoning the read and reopening",
                            self.source_name, silent)
                return "stalled"
        return "stop" if self.stop.is_set() else self._ended

    def _read_loop(self, source: FrameSource, generation: int) -> None:
        try:
            while not self.stop.is_set() and generation == self._generation:
                if not source.live:
                    self.slot.wait_for_room(self.stop)
                    if self.stop.is_set():
                        break
                try:
                    got = source.read()
                except Exception as e:  # noqa: BLE001 - OSError from a device, anything from a decoder
                    if generation == self._generation:
                        if source.live:
                            log.warning("%s failed (%s: %s)", self.source_name, type(e).__name__, e)
                        else:
                            log.error("source %s failed: %s: %s", self.source_name, type(e).__name__, e)
                        self._ended = "failed"
                    return
                if got is None:  # the source says it ended (live devices raise instead)
                    if generation == self._generation:
                        log.info("source %s ended after %d frames", self.source_name, self._seq)
                        self._ended = "ended"
                    return
                if self._usable(got[0]):
                    self._hand_over(got, generation)
        finally:
            if generation == self._generation:
                self._reader_done.set()
            elif self._reopen_source is not None:
                source.close()  # abandoned after a stall: its read returned at last, and it is ours to close

    def _usable(self, image) -> bool:
        """A BGR uint8 frame; anything else (a driver handing over grey, a half-decoded
        buffer) is counted and skipped, and a source that sends only such frames stalls."""
        ok = isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3 \
            and image.shape[0] > 0 and image.shape[1] > 0
        if not ok:
            self.bad_frames += 1
            if self.bad_frames in (1, 10, 100, 1000) or self.bad_frames % 10000 == 0:
                shape = getattr(image, "shape", None)
                log.warning("%s sent an unusable frame (%s, shape %s; %d so far); skipped", self.source_name,
                            getattr(image, "dtype", type(image).__name__), shape, self.bad_frames)
        return ok

    def _hand_over(self, got: tuple, generation: int) -> None:
        image, detect_image = got
        t_capture = time.monotonic()
        model_input, resize_s = None, 0.0
        if self.resize_for_model is not None:
            model_input = self.resize_for_model(detect_image if detect_image is not None else image)
            resize_s = time.monotonic() - t_capture
        with self._lock:
            if generation != self._generation:
                return  # abandoned while it read: the source it read from is gone
            self.slot.put(Frame(self._seq, t_capture, image, model_input, resize_s))
            self._seq += 1
            self._last_frame = time.monotonic()
            if self._outage_since is not None:
                self._end_outage()

    # ---------------------------------------------------------------- outages
    def _begin_outage(self) -> None:
        if self._outage_since is None:
            self._outage_since = time.monotonic()
            self.outages += 1

    def _end_outage(self) -> None:
        lasted = time.monotonic() - self._outage_since
        self._outage_total += lasted
        self._outage_since = None
        log.info("%s back after %.1f s", self.source_name, lasted)

    def _outage_too_long(self) -> bool:
        if not self.max_outage or self._outage_since is None:
            return False
        lasted = time.monotonic() - self._outage_since
        if lasted < self.max_outage:
            return False
        self.gave_up = True
        log.error("%s: no frame for %.0f s (source.max_outage %g s); giving up so that the service "
                  "restarts", self.source_name, lasted, self.max_outage)
        return True

    def _drop_source(self, abandon: bool) -> None:
        """Close the failed source. A stalled one is still inside read() on its reader thread,
        and closing it from here could crash the driver: its reader closes it when the read
        returns."""
        source, self.source = self.source, None
        self._generation += 1
        if self._reopen_source is None:
            self._closed_source = source  # reopened in place (tests' fake cameras)
        if not abandon:
            source.close()
