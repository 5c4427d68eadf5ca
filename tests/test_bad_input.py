"""Every kind of bad input: one line on stderr naming the problem and the fix, exit code 2."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _run(*args, cwd=REPO):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "pi_vision", *args, "--max-frames", "1"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, reference_path):
    d = tmp_path_factory.mktemp("bad")
    (d / "truncated.tflite").write_bytes(reference_path.read_bytes()[:60000])
    (d / "empty.tflite").write_bytes(b"")
    (d / "unknown_key.yaml").write_text("detector:\n  treads: 2\n")
    (d / "bad_value.yaml").write_text("detector:\n  score_threshold: high\n")
    (d / "broken.yaml").write_text("detector: [\n")
    (d / "tracker.yaml").write_text("tracker:\n  low_score: 0.9\n")
    (d / "list.yaml").write_text("- source\n- detector\n")
    (d / "twice.yaml").write_text("detector:\n  threads: 1\n  threads: 2\n")
    return d


CASES = [
    ("missing model file", ["--model", "{bad}/nope.tflite", "--source", "demo"], "does not exist"),
    ("unknown model name", ["--model", "ssd_mbv1_9_999", "--source", "demo"], "no model named ssd_mbv1_9_999"),
    ("truncated model", ["--model", "{bad}/truncated.tflite", "--source", "demo"], "not a loadable TFLite model"),
    ("empty model", ["--model", "{bad}/empty.tflite", "--source", "demo"], "is empty"),
    ("not a detector", ["--model", "{data}/backbones/mobilenet_v1_0.5_160_quant.tflite", "--source", "demo"],
     "is not an SSD detector"),
    ("unknown source", ["--model", "{ref}", "--source", "/no/such/video.mp4"], "use --source demo"),
    ("unknown config key", ["--config", "{bad}/unknown_key.yaml"], "unknown key detector.treads"),
    ("bad config value", ["--config", "{bad}/bad_value.yaml"], "detector.score_threshold: expected a number"),
    ("broken YAML", ["--config", "{bad}/broken.yaml"], "is not valid YAML"),
    ("missing config file", ["--config", "{bad}/none.yaml"], "cannot read"),
    ("bad flag value", ["--threads", "many"], "invalid int value"),
    ("bad choice", ["--resize", "crop"], "invalid choice"),
    ("negative threads", ["--threads", "-2"], "detector.threads: must be >= 0"),
    ("record into a missing folder", ["--model", "{ref}", "--source", "demo", "--record", "{bad}/no/dir/v.mp4"],
     "does not exist"),
    ("events into a missing folder", ["--model", "{ref}", "--source", "demo", "--events", "{bad}/no/e.jsonl"],
     "cannot write events"),
    ("bad tracker settings", ["--config", "{bad}/tracker.yaml"], "config error: tracker: need 0 <= low_score"),
    ("detect every 0", ["--detect-every", "0"], "detector.every: must be >= 1"),
    ("config that is a list", ["--config", "{bad}/list.yaml"], "the top level must be a mapping"),
    ("config that repeats a key", ["--config", "{bad}/twice.yaml"], "detector.threads is given twice (line 3)"),
    ("model that is a folder", ["--model", "{bad}", "--source", "demo"], "is a folder; pass a .tflite file"),
]


@pytest.mark.parametrize("args, message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_exit_2(args, message, bad_files, data_dir, reference_path):
    args = [a.format(bad=bad_files, data=data_dir, ref=reference_path) for a in args]
    result = _run(*args)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    ours = [line for line in lines if line.startswith("pi-vision")]
    assert len(ours) == 1 and message in ours[0], result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    # Nothing else: our own log lines at most, no warnings of OpenCV, FFmpeg or the runtime.
    assert all(line.startswith(("pi-vision", "info:", "debug:")) for line in lines), result.stderr


# A live source that is not there (yet) is an outage, not bad input: retried with backoff for
# source.max_outage seconds, each try logged with the fix, then exit 75, which the unit restarts on.
NO_CAMERA_HERE = pytest.mark.skipif(Path("/dev/video0").exists(), reason="this machine has a camera, so auto finds one")
OUTAGE_CASES = [
    pytest.param("37", "cannot open camera 37", id="camera that does not open"),
    pytest.param("rtsp://127.0.0.1:9/none", "cannot open rtsp", id="stream that is not there"),
    pytest.param("auto", "no camera found", id="auto without any camera", marks=NO_CAMERA_HERE),
]


@pytest.mark.parametrize("source, message", OUTAGE_CASES)
def test_a_live_source_that_is_not_there_is_retried_then_exits_75(source, message, reference_path):
    result = _run("--model", str(reference_path), "--source", source, "--max-outage", "1.5")
    assert result.returncode == 75, result.stderr
    retries = [line for line in result.stdout.splitlines() if message in line]
    assert len(retries) >= 2 and all("retrying" in line for line in retries), result.stdout  # at least one retry
    assert result.stderr.strip().splitlines() == [result.stderr.strip()], result.stderr
    assert result.stderr.startswith("pi-vision: source error:") and "max_outage" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_display_without_a_desktop(reference_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER")}
    result = subprocess.run([sys.executable, "-m", "pi_vision", "--model", str(reference_path), "--source", "demo",
                             "--display", "--max-frames", "1"], cwd=REPO, env=dict(env, PYTHONPATH=str(REPO)),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "needs a desktop session" in result.stderr


TRAIN_CASES = [
    ("voc without a folder", ["--recipe", "voc", "--out", "{tmp}/run"], "--recipe voc needs --voc FOLDER"),
    ("init from a folder without checkpoints", ["--init-from", "{tmp}", "--out", "{tmp}/run"],
     "no checkpoint in"),
    ("distil from a folder without checkpoints", ["--distil-from", "{tmp}", "--out", "{tmp}/run"],
     "--distil-from {tmp}: no checkpoint in"),
    ("paste probability above 1", ["--paste", "1.5", "--out", "{tmp}/run"], "--paste 1.5 is not a probability"),
    ("negative zoom-out probability", ["--zoom-out", "-0.1", "--out", "{tmp}/run"], "--zoom-out -0.1 is not a"),
    ("scene share above 1", ["--scene-share", "2", "--out", "{tmp}/run"], "--scene-share 2 is not in 0..1"),
    ("no run folder", ["--alpha", "0.5"], "--out FOLDER is required"),
    ("the reference backbone too narrow", ["--backbone", "reference", "--alpha", "0.25", "--out", "{tmp}/run"],
     "narrows to alpha 0.5 at most, not 0.25"),
    ("the reference head on another width", ["--backbone", "reference", "--head", "reference", "--alpha", "0.5",
                                             "--out", "{tmp}/run"], "--head reference needs --backbone reference"),
]


@pytest.mark.parametrize("args, message", [c[1:] for c in TRAIN_CASES], ids=[c[0] for c in TRAIN_CASES])
def test_train_script_rejects_bad_input_before_any_work(args, message, tmp_path):
    pytest.importorskip("tensorflow")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    result = subprocess.run([sys.executable, "-m", "pi_vision.commands.train",
                             *[a.format(tmp=tmp_path) for a in args]],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    ours = [line for line in result.stderr.strip().splitlines() if line.startswith("pi-vision-train:")]
    assert len(ours) == 1 and message.format(tmp=tmp_path) in ours[0], result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "run").exists()  # nothing written


@pytest.mark.parametrize("classes, message", [
    (["raccoon"], "trains raccoon, not the COCO classes, and has no holdout.json"),  # a custom run, not from train.py
    (None, "no checkpoint in"),
])
def test_convert_script_names_what_to_score_a_custom_run_on(classes, message, tmp_path):
    run = tmp_path / "run"
    if classes is not None:
        step = run / "checkpoints" / "step_0000001"
        step.mkdir(parents=True)
        (step / "state.json").write_text(json.dumps({"step": 1, "config": {"class_names": classes}}))
    env = dict(os.environ, PYTHONPATH=str(REPO))
    result = subprocess.run([sys.executable, "-m", "pi_vision.commands.convert", str(run)], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pi-vision-convert: ") and message in lines[0], result.stderr
