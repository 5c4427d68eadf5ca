import json
import logging
import threading
import time

import cv2
import numpy as np
import pytest

from pi_vision.detections import Detections
from pi_vision.errors import UserError
from pi_vision.outputs import Outputs
from pi_vision.outputs import recorder as recorder_mod
from pi_vision.outputs.display import Display
from pi_vision.outputs.events import EventsWriter
from pi_vision.outputs.recorder import Recorder
from pi_vision.outputs.overlay import Overlay, track_colour
from pi_vision.sources import Frame

LABELS = ["person", "bicycle", "car"]


def _frame(seq, w=640, h=480, image=None):
    return Frame(seq, time.monotonic(), np.zeros((h, w, 3), np.uint8) if image is None else image)


def _dets(track_ids=(7,)):
    n = len(track_ids)
    boxes = np.tile([[0.25, 0.5, 0.5, 1.0]], (n, 1))
    return Detections(boxes, np.full(n, 0.9), np.zeros(n, np.int32), np.array(track_ids))


def test_events_are_pixel_boxes_one_line_per_frame_and_appended(tmp_path):
    path = tmp_path / "events.jsonl"
    for run in range(2):
        writer = EventsWriter(str(path), LABELS)
        writer.write(_frame(run), _dets())
        writer.close()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["seq"] for line in lines] == [0, 1]  # the second run appended
    obj = lines[0]["objects"][0]
    assert obj == {"id": 7, "class": 0, "label": "person", "score": 0.9, "box": [160.0, 240.0, 320.0, 480.0]}
    assert abs(lines[0]["time"] - time.time()) < 5


def test_unwritable_outputs_fail_at_start(tmp_path):
    with pytest.raises(UserError, match="cannot write events"):
        EventsWriter(str(tmp_path / "missing" / "e.jsonl"), LABELS)
    with pytest.raises(UserError, match="does not exist"):
        Recorder(str(tmp_path / "missing" / "v.mp4"), 30)
    with pytest.raises(UserError, match="use a .mp4"):
        Recorder(str(tmp_path / "v.gif"), 30)


def test_recording_is_a_readable_video_and_never_overwrites(tmp_path):
    path = tmp_path / "out.mp4"
    path.write_bytes(b"an earlier recording")
    recorder = Recorder(str(path), fps=10)
    for seq in range(12):
        image = np.full((240, 320, 3), seq * 20, np.uint8)
        recorder.write(_frame(seq, 320, 240, image), _dets())
    recorder.close()
    assert path.read_bytes() == b"an earlier recording"
    cap = cv2.VideoCapture(str(recorder.path))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 12 and cap.get(cv2.CAP_PROP_FPS) == 10
    assert (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (320, 240)


def test_a_failing_output_is_stopped_and_the_others_go_on(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(recorder_mod, "MIN_FREE_BYTES", 2**62)  # the disk is "full"
    events = EventsWriter(str(tmp_path / "e.jsonl"), LABELS)
    outputs = Outputs([Recorder(str(tmp_path / "v.mp4"), 10), events])
    image = np.zeros((48, 64, 3), np.uint8)
    with caplog.at_level(logging.ERROR):
        for seq in range(3):
            outputs.write(_frame(seq, 64, 48, image), _dets())
    outputs.close()
    assert "record output stopped" in caplog.text
    assert len((tmp_path / "e.jsonl").read_text().splitlines()) == 3


def test_display_needs_a_desktop(monkeypatch):
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(UserError, match="needs a desktop session"):
        Display(threading.Event())


def test_display_shows_frames_and_q_stops(monkeypatch):
    pygame = pytest.importorskip("pygame")
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    stop = threading.Event()
    display = Display(stop)
    image = np.zeros((48, 64, 3), np.uint8)
    image[:, :, 2] = 255  # red in BGR
    display.write(_frame(0, 64, 48, image), _dets())
    assert pygame.display.get_surface().get_at((10, 10))[:3] == (255, 0, 0)
    assert not stop.is_set()
    pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_q))
    display.write(_frame(1, 64, 48, image), _dets())
    assert stop.is_set()
    display.close()


@pytest.mark.parametrize("w, h", [(640, 480), (1920, 1080)])
def test_overlay_draws_at_the_frame_resolution(w, h):
    image = np.zeros((h, w, 3), np.uint8)
    Overlay().draw(image, _dets(), LABELS)
    colour = np.array(track_colour(7), np.uint8)
    # The box's right edge (x = 0.5 w) is drawn in the track's colour, below the label.
    assert (image[int(0.9 * h), int(0.5 * w)] == colour).all()
    assert (image[int(0.9 * h), int(0.4 * w)] == 0).all()  # inside stays untouched


def test_trails_follow_tracks_and_are_dropped_with_them():
    overlay = Overlay()
    image = np.zeros((100, 100, 3), np.uint8)
    for _ in range(3):
        overlay.draw(image, _dets((1, 2)), LABELS)
    assert set(overlay._trails) == {1, 2} and len(overlay._trails[1]) == 3
    overlay.draw(image, _dets((2,)), LABELS)
    assert set(overlay._trails) == {2}


def test_track_colours_are_stable_and_distinct():
    colours = {track_colour(i) for i in range(1, 13)}
    assert len(colours) == 12 and track_colour(5) == track_colour(5)


def test_banner_patches_are_exactly_what_drawing_the_text_gives():
    from pi_vision.outputs.overlay import _draw_label
    lines = ["model | 2 threads | 85.3 fps | invoke p50 9.4 ms", "gjpqy| second line"]
    for w, h in [(640, 480), (200, 30)]:
        rng = np.random.default_rng(0)
        expected = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        image = expected.copy()
        scale = max(0.35, min(w, h) / 1200)
        y = 0
        for line in lines:
            y += _draw_label(expected, line, (0, y), (40, 40, 40), scale, below=True, text_colour=(255, 255, 255))
        Overlay().draw(image, Detections.empty(), LABELS, lines)
        assert (image == expected).all()


@pytest.mark.parametrize("keep", [20, 2])
def test_events_rotate_by_size_without_losing_or_splitting_a_line(tmp_path, keep):
    path = tmp_path / "e.jsonl"
    writer = EventsWriter(str(path), LABELS, max_bytes=4000, keep=keep)
    for seq in range(200):
        writer.write(_frame(seq), _dets())
    writer.close()
    files = sorted(tmp_path.glob("e.jsonl*"), key=lambda p: int(p.suffix[1:]) if p.suffix[1:].isdigit() else 0,
                   reverse=True)  # oldest first
    assert writer.rotations >= 4 and len(files) == min(keep, writer.rotations) + 1
    seqs = [json.loads(line)["seq"] for f in files for line in f.read_text().splitlines()]
    # The newest lines, in order, with no gap: a rotation never drops or cuts one.
    assert seqs == list(range(200 - len(seqs), 200))
    if keep == 20:
        assert len(seqs) == 200
    assert all(f.stat().st_size <= 4000 for f in files)


def test_recording_segments_rotate_and_the_oldest_go_first(tmp_path):
    now = [1_800_000_000.0]
    recorder = Recorder(str(tmp_path / "cam.mp4"), fps=10, segment_s=1.0, max_bytes=60_000, clock=lambda: now[0])
    rng = np.random.default_rng(0)
    for seq in range(60):  # 6 s of noise at 10 fps: 6 segments of 1 s
        recorder.write(_frame(seq, 160, 120, rng.integers(0, 255, (120, 160, 3), np.uint8)), _dets())
        now[0] += 0.1
    current = recorder.path
    recorder.close()
    kept = recorder.segments()
    assert recorder.segments_written == 6 and recorder.deleted >= 1
    assert current in kept and len(kept) == 6 - recorder.deleted
    # What was kept is the newest run of segments, and it fits the cap but for the one being written.
    assert sum(p.stat().st_size for p in kept if p != current) <= 60_000
    assert kept == sorted(kept) and kept[-1] == current


def test_a_new_frame_size_starts_a_new_segment(tmp_path):
    recorder = Recorder(str(tmp_path / "cam.avi"), fps=10)
    recorder.write(_frame(0, 64, 48), _dets())
    recorder.write(_frame(1, 128, 96), _dets())
    recorder.close()
    sizes = [(int(c.get(cv2.CAP_PROP_FRAME_WIDTH)), int(c.get(cv2.CAP_PROP_FRAME_HEIGHT)))
             for c in (cv2.VideoCapture(str(p)) for p in recorder.segments())]
    assert sorted(sizes) == [(64, 48), (128, 96)]
