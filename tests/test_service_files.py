import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pi_vision import cli

REPO = Path(__file__).resolve().parent.parent


def test_service_config_is_valid():
    assert cli.main(["--validate-config", str(REPO / "systemd" / "config.yaml")]) == 0


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_rendered_unit_verifies(tmp_path):
    text = (REPO / "systemd" / "pi-vision.service").read_text()
    unit = tmp_path / "pi-vision.service"
    unit.write_text(text.replace("@REPO@", str(REPO)).replace("@USER@", "root").replace("@GROUP@", "root"))
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
    assert result.returncode == 0 and "Unknown" not in result.stderr, result.stderr


@pytest.mark.parametrize("args, message", [(["--bogus"], "unknown option --bogus")])
def test_install_script_rejects_bad_options(args, message):
    result = subprocess.run(["bash", str(REPO / "scripts" / "install_service.sh"), *args],
                            capture_output=True, text=True)
    assert result.returncode == 2 and message in result.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="running as root")
def test_install_script_needs_root():
    result = subprocess.run(["bash", str(REPO / "scripts" / "install_service.sh")], capture_output=True, text=True)
    assert result.returncode == 2 and "run as root" in result.stderr
