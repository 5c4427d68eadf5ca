"""The Cortex-A72 cost model: calibration math, table and document writing (pure Python),
plus the plugin build and a plugin smoke run where qemu-user and the arm64 root exist."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


from research import a72_cost_model as cm
from research import count_invoke as ci

P = {k: v.value for k, v in cm.PUBLISHED.items()}
REF = cm.REFERENCE_NAME


def model(name, counts, precision="int8", mult_adds=100_000_000, **extra):
    return {"model": name, "path": f"/pi-vision/models/{name}.tflite", "precision": precision, "input": "160x160",
            "mult_adds": mult_adds,
            "invoke_counts": counts, "raw_counts": [c + 3500 for c in counts], "marker_overhead": [3500, 3500],
            "other_thread_counts": [0, 0], "invoke_wall_s": [1.0] * len(counts), "load_s": 0.4,
            "model_wall_s": 5.0, "process_wall_s": 9.0, **extra}


def runs_of(*models, repeat=None):
    first = {"date": "2026-01-01 00:00 UTC", "qemu": "7.2", "hwcap": "0x8fb", "cpu_part": "0xd08", "frame": 100,
             "models": list(models)}
    return [first] + ([{"models": [repeat]}] if repeat else [])


def test_reference_is_the_calibration_point():
    cal = cm.calibrate(300_000_000, [])
    ms_1t, ms_4t = cm.predict_ms(300_000_000, False, cal)
    # 24 FPS at 1925 MHz, scaled to the stock 1500 MHz, is the 4-thread figure...
    assert ms_4t == pytest.approx(1000 / P["ref_fps_4t"] * P["ref_clock_mhz"] / P["stock_clock_mhz"])
    # ...and 1 thread is that times the published int8 1 -> 4 thread speed-up.
    assert ms_1t == pytest.approx(ms_4t * P["int8_1t_ms"] / P["int8_4t_ms"])
    assert cal.ipc_quant == pytest.approx(300_000_000 / (ms_1t / 1000 * 1.5e9))
    assert cal.ipc_float is None


def test_time_is_proportional_to_instructions():
    cal = cm.calibrate(300_000_000, [])
    a, b = cm.predict_ms(30_000_000, False, cal), cm.predict_ms(60_000_000, False, cal)
    assert b[0] == pytest.approx(2 * a[0]) and b[1] == pytest.approx(2 * a[1])


def test_float_ipc_reproduces_the_published_fp32_over_int8_ratio():
    cal = cm.calibrate(300_000_000, [("net", 10_000_000, 14_000_000)])
    int8_1t, int8_4t = cm.predict_ms(10_000_000, False, cal)
    f32_1t, f32_4t = cm.predict_ms(14_000_000, True, cal)
    assert f32_1t / int8_1t == pytest.approx(P["fp32_1t_ms"] / P["int8_1t_ms"])
    assert f32_1t / f32_4t == pytest.approx(P["fp32_1t_ms"] / P["fp32_4t_ms"])
    assert int8_1t / int8_4t == pytest.approx(P["int8_1t_ms"] / P["int8_4t_ms"])


def test_several_float_pairs_average_geometrically():
    one = cm.calibrate(3e8, [("a", 10_000_000, 10_000_000)]).ipc_float
    four = cm.calibrate(3e8, [("b", 10_000_000, 40_000_000)]).ipc_float
    both = cm.calibrate(3e8, [("a", 10_000_000, 10_000_000), ("b", 10_000_000, 40_000_000)])
    assert both.ipc_float == pytest.approx((one * four) ** 0.5)
    assert both.float_pairs == ("a", "b")


def test_float_pairs_match_x_with_x_float():
    models = [model("m", [10]), model("m_float", [20], "float32"), model("lonely_float", [5], "float32"),
              model(REF, [100], "uint8")]
    assert cm.float_pairs(models) == [("m", 10, 20)]


def test_instruction_count_is_the_median_and_refuses_a_wide_spread():
    assert cm.instruction_count(model("m", [100_000_300, 100_000_000, 100_000_100])) == 100_000_100
    assert cm.instruction_count(model("m", [100_000_000, 100_000_011])) == 100_000_005
    with pytest.raises(ValueError, match="not deterministic"):
        cm.instruction_count(model("m", [100_000_000, 100_020_000, 100_000_000]))


def test_table_rows_mark_the_repeat_and_show_the_spread():
    runs = runs_of(model(REF, [288_000_400, 288_000_000, 288_000_000], "uint8", 728_000_000),
                   model("ssd_mbv1_0.5_160", [20_000_000] * 3),
                   repeat=model(REF, [288_000_400, 288_000_000, 288_000_000], "uint8", 728_000_000))
    cal = cm.calibrate(288_000_000, [])
    rows = cm.table_rows(runs, cal)
    assert [r[0] for r in rows] == [REF, "ssd_mbv1_0.5_160", f"{REF} (run 2, fresh process)"]
    assert rows[0][4] == "288 000 000" and rows[0][6].startswith("400 ")
    assert rows[1][5] == "0.200"  # instructions per MAC
    assert "FPS at 4 thr" in rows[0][-1] and rows[1][-1] == ""
    table = cm.markdown_table(cm.HEADER, rows)
    assert table.count("\n") == len(rows) + 1 and all(line.count("|") == len(cm.HEADER) + 1
                                                      for line in table.splitlines())


def test_document_states_repeatability_and_the_goal():
    ref = model(REF, [288_000_000] * 3, "uint8", 728_000_000)
    small = model("ssd_mbv1_0.5_160", [10_000_000] * 3)
    slow = model("ssd_mbv1_0.5_160_wide", [400_000_000] * 3)
    cal = cm.calibrate(288_000_000, cm.float_pairs([ref, small, slow]))
    doc = cm.render_doc(runs_of(ref, small, slow, repeat=dict(ref)), cal, "CMD")
    assert "identical, invoke by invoke, to the instruction" in doc
    assert "`ssd_mbv1_0.5_160` (int8)" in doc and "met by this prediction" in doc
    assert "`ssd_mbv1_0.5_160_wide` (int8)" in doc and "not met by this prediction" in doc
    assert "```sh\nCMD\n```" in doc
    changed = dict(ref, raw_counts=[c + 1 for c in ref["raw_counts"]])
    assert "**not identical** (largest difference 1 instructions)" in cm.render_doc(
        runs_of(ref, small, repeat=changed), cal, "CMD")


def test_from_json_writes_the_doc(tmp_path, capsys):
    runs = runs_of(model(REF, [288_000_000] * 3, "uint8", 728_000_000), model("x", [1_000_000] * 3),
                   repeat=model(REF, [288_000_000] * 3, "uint8", 728_000_000))
    saved, doc, predicted = tmp_path / "counts.json", tmp_path / "doc.md", tmp_path / "pred.json"
    saved.write_text(json.dumps(runs))
    assert cm.main(["--from-json", str(saved), "--doc", str(doc), "--predictions", str(predicted)]) == 0
    assert "| x | int8 |" in doc.read_text()
    models = json.loads(predicted.read_text())["models"]
    # The reference reproduces its calibration figure; x has 1/288 of its instructions.
    assert models[REF]["pi4_ms_4_threads"] == pytest.approx(1000 / 24 * 1925 / 1500, rel=1e-3)
    assert models["x"]["pi4_ms_1_thread"] == pytest.approx(models[REF]["pi4_ms_1_thread"] / 288, rel=1e-2)
    assert "| x | int8 |" in capsys.readouterr().out


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    assert cm.main(["--from-json", str(tmp_path / "missing.json")]) == 2
    saved = tmp_path / "counts.json"
    saved.write_text(json.dumps(runs_of(model("x", [1_000_000]))))
    assert cm.main(["--from-json", str(saved), "--doc", str(tmp_path / "d.md"),
                    "--predictions", str(tmp_path / "p.json")]) == 2
    assert cm.main(["--invokes", "0", "--from-json", str(saved)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("a72_cost_model: ") for line in err)
    assert "calibration point" in err[1]


def test_guest_program_refuses_to_run_outside_aarch64(capsys):
    if os.uname().machine == "aarch64":
        pytest.skip("on aarch64 the guest program would run for real")
    with pytest.raises(SystemExit) as e:
        ci.main(["--model", "x.tflite", "--out", "o.json", "--counts", "c.txt"])
    assert e.value.code == 2
    assert "arm64 guest only" in capsys.readouterr().err


def _qemu_with_plugins() -> bool:
    qemu = shutil.which("qemu-aarch64")
    return bool(qemu) and "-plugin" in subprocess.run([qemu, "-h"], capture_output=True, text=True).stdout


@pytest.mark.skipif(not _qemu_with_plugins(), reason="no qemu-aarch64 accepting -plugin (Debian's dynamic "
                    "qemu-user); the plugin is only built and run where it is installed")
def test_plugin_builds_and_counts_a_guest_program(tmp_path):
    version = subprocess.run(["dpkg-query", "-W", "-f=${source:Version}", "qemu-user"], capture_output=True,
                             text=True).stdout
    src = Path(os.environ.get("PI_VISION_QEMU_SRC", "/var/cache/pi-vision/qemu-src"))
    if not (src / version / "include" / "qemu" / "qemu-plugin.h").is_file():
        pytest.skip(f"qemu-plugin.h of {version} not fetched yet (research/qemu_insn_plugin/build.sh fetches it "
                    f"with apt-get source; not done from a test)")
    if not shutil.which("gcc"):
        pytest.skip("no gcc")
    build = subprocess.run([str(REPO / "research" / "qemu_insn_plugin" / "build.sh"), str(tmp_path)],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    plugin = build.stdout.strip().splitlines()[-1]
    root = cm.ROOT
    if not (root / "bin" / "true").exists():
        pytest.skip(f"no arm64 root at {root} (research/arm64_check.sh builds it)")
    out = tmp_path / "counts.txt"
    run = subprocess.run(["nice", "-n", "19", "qemu-aarch64", "-cpu", "cortex-a72", "-L", str(root), "-plugin",
                          f"{plugin},out={out}", str(root / "bin" / "true")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    line = out.read_text().strip().splitlines()[-1].split()
    assert line[0] == "exit" and int(line[1]) > 1000  # a real program, counted
    bad = subprocess.run(["qemu-aarch64", "-L", str(root), "-plugin", f"{plugin},bogus=1", str(root / "bin" / "true")],
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "unknown argument bogus=1" in bad.stderr
