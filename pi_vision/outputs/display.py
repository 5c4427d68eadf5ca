"""A window showing the annotated frames (pygame/SDL; optional: headless is the default)."""
from __future__ import annotations

import logging
import os
import threading
from typing import Callable

import numpy as np

from pi_vision.detections import Detections
from pi_vision.errors import UserError
from pi_vision.sources import Frame

log = logging.getLogger(__name__)


class Display:
    """Closing the window or pressing q / Esc sets ``stop``; other keys go to ``on_key``."""

    name = "display"
    needs_image = True

    def __init__(self, stop: threading.Event, title: str = "pi_vision", on_key: Callable[[str], None] | None = None):
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.environ.get("SDL_VIDEODRIVER")):
            raise UserError("output error: --display needs a desktop session (no DISPLAY or WAYLAND_DISPLAY is "
                            "set); run headless, or use --record FILE to see the annotated video")
        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
        try:
            import pygame
        except ImportError:
            raise UserError("output error: --display needs pygame; run: pip install pygame") from None
        try:
            pygame.display.init()
        except pygame.error as e:
            raise UserError(f"output error: cannot open a window ({e}); run headless or check the desktop session")
        self._pygame = pygame
        self._stop = stop
        self._on_key = on_key
        self._title = title
        self._screen = None

    def write(self, frame: Frame, detections: Detections) -> None:
        try:
            self._show(frame.image)
        except self._pygame.error as e:  # the window or the session went away
            raise OSError(str(e)) from e

    def _show(self, image: np.ndarray) -> None:
        pygame = self._pygame
        h, w = image.shape[:2]
        if self._screen is None or self._screen.get_size() != (w, h):
            self._screen = pygame.display.set_mode((w, h))
            pygame.display.set_caption(self._title)
        # pygame wants RGB, x-major: a transposed view of the BGR frame, reversed channels.
        surface = pygame.surfarray.make_surface(np.ascontiguousarray(image[:, :, ::-1].transpose(1, 0, 2)))
        self._screen.blit(surface, (0, 0))
        pygame.display.flip()
        for event in pygame.event.get():
            if event.type == pygame.QUIT or (event.type == pygame.KEYDOWN and event.key in (pygame.K_q, pygame.K_ESCAPE)):
                log.info("display closed; stopping")
                self._stop.set()
            elif event.type == pygame.KEYDOWN and self._on_key is not None and event.unicode:
                self._on_key(event.unicode)

    def close(self) -> None:
        self._pygame.display.quit()
