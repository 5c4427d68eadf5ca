import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pi_vision import cli

REPO = Path(__file__).resolve().parent.parent


def test_service_config_is_valid():
    assert cli.main(["--validate-config", str(REPO / "systemd" / "config.yaml")]) == 0


def _render(tmp_path, net: str = "") -> Path:
    """The unit as the installer writes it."""
    text = (REPO / "systemd" / "pi-vision.service").read_text()
    unit = tmp_path / "pi-vision.service"
    unit.write_text(text.replace("@REPO@", str(REPO)).replace("@NET@", net))
    return unit


NEEDS_SYSTEMD = pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")


@NEEDS_SYSTEMD
def test_rendered_unit_verifies(tmp_path):
    result = subprocess.run(["systemd-analyze", "verify", str(_render(tmp_path))], capture_output=True, text=True)
    assert result.returncode == 0 and "Unknown" not in result.stderr, result.stderr


# systemd's own rating of the sandbox: 0 is locked down, 10 is none (the unit before
# hardening rated 9.2). The network variant is what a stream source gets.
MAX_EXPOSURE = 2.5


@NEEDS_SYSTEMD
@pytest.mark.parametrize("net", ["", "AF_INET AF_INET6"], ids=["camera", "network stream"])
def test_rendered_unit_exposure_is_at_most_2_5(tmp_path, net):
    result = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager", str(_render(tmp_path, net))],
                            capture_output=True, text=True)
    found = re.search(r"Overall exposure level for pi-vision.service: ([\d.]+)", result.stdout)
    assert found, result.stdout + result.stderr
    assert float(found.group(1)) <= MAX_EXPOSURE, result.stdout


def test_unit_names_every_placeholder_the_installer_fills():
    unit = (REPO / "systemd" / "pi-vision.service").read_text()
    installer = (REPO / "scripts" / "install_service.sh").read_text()
    assert set(re.findall(r"@[A-Z]+@", unit)) == {"@REPO@", "@NET@"}
    assert all(f"s|{p}|" in installer for p in ("@REPO@", "@NET@"))


@pytest.mark.parametrize("spec, families", [("rtsp://cam/stream", "AF_INET AF_INET6"), ("0", ""), ("demo", "")])
def test_the_installer_opens_the_network_only_for_a_stream(spec, families, capsys):
    assert cli.main(["--source", spec, "--print-address-families"]) == 0
    assert capsys.readouterr().out.strip() == families


@pytest.mark.parametrize("args, message", [(["--bogus"], "unknown option --bogus")])
def test_install_script_rejects_bad_options(args, message):
    result = subprocess.run(["bash", str(REPO / "scripts" / "install_service.sh"), *args],
                            capture_output=True, text=True)
    assert result.returncode == 2 and message in result.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="running as root")
def test_install_script_needs_root():
    result = subprocess.run(["bash", str(REPO / "scripts" / "install_service.sh")], capture_output=True, text=True)
    assert result.returncode == 2 and "run as root" in result.stderr
