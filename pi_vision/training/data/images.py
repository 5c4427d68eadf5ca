"""Unlabelled sources: folders of images and frames of videos."""
from __future__ import annotations

import logging
from pathlib import Path

import cv2

from pi_vision.training.data.sample import Sample

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


def list_images(folder: Path) -> list[Path]:
    """Image files directly in ``folder``, sorted."""
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def read_image_folder(folder: Path) -> list[Sample]:
    return [Sample(p) for p in list_images(folder)]


def extract_video_frames(video: Path, out_dir: Path, every: int = 1, max_side: int = 640) -> list[Sample]:
    """Decode every ``every``-th frame of ``video`` to JPEGs in ``out_dir`` (once; later calls
    reuse them), downscaled to ``max_side``. Random access into compressed video is slow and
    inexact, so training reads frames as files."""
    out_dir = Path(out_dir)
    done = out_dir / ".complete"
    if not done.exists():
        out_dir.mkdir(parents=True, exist_ok=True)
        capture = cv2.VideoCapture(str(video))
        index = 0
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            if index % every == 0:
                scale = max_side / max(frame.shape[:2])
                if scale < 1:
                    frame = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
                cv2.imwrite(str(out_dir / f"{index:06d}.jpg"), frame, [cv2.IMWRITE_JPEG_QUALITY, 92])
            index += 1
        capture.release()
        if index == 0:
            raise OSError(f"cannot decode any frame of {video}")
        done.write_text(str(index))
        log.info("extracted %d of %d frames of %s", len(list(out_dir.glob('*.jpg'))), index, video)
    return read_image_folder(out_dir)
