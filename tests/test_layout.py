"""The README's layout section and the console commands match the tree."""
from __future__ import annotations

import importlib
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _layout_block() -> str:
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Layout"):]
    return section[section.index("```") + 3:section.index("```", section.index("```") + 3)]


def _tracked_dirs() -> set[str]:
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    return {f.split("/")[0] for f in files if "/" in f and not f.startswith(".")}


def test_layout_names_every_top_level_folder_and_package_and_nothing_else():
    block = _layout_block()
    listed = set(re.findall(r"^(\S+)/\s", block, re.M))
    packages = {p.name for p in (REPO / "pi_vision").iterdir() if (p / "__init__.py").exists()}
    listed_packages = set(re.findall(r"^  (\w+)/\s", block, re.M))
    assert listed == _tracked_dirs(), "top-level folders in the README layout vs the repository"
    assert listed_packages == packages, "pi_vision/ subpackages in the README layout vs the tree"


def test_every_module_the_layout_names_exists():
    block = _layout_block()
    for name in re.findall(r"^  ([\w, .]+\.py)\s", block, re.M):
        for module in name.split(","):
            assert (REPO / "pi_vision" / module.strip()).exists(), module


def _scripts() -> dict[str, str]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]


@pytest.mark.parametrize("command,target", sorted(_scripts().items()))
def test_every_console_command_has_a_main(command, target):
    module, _, function = target.partition(":")
    assert callable(getattr(importlib.import_module(module), function)), command


def test_every_command_module_has_a_console_command():
    targets = {t.partition(":")[0] for t in _scripts().values()}
    modules = {f"pi_vision.commands.{p.stem}" for p in (REPO / "pi_vision" / "commands").glob("*.py")
               if p.stem != "__init__"}
    assert modules <= targets, f"commands without an entry point: {sorted(modules - targets)}"


def test_no_module_edits_the_import_path():
    # The package is installed and the rig runs as `python -m research.<tool>`: a sys.path
    # insert would hide a broken install.
    offenders = [str(p.relative_to(REPO)) for folder in ("pi_vision", "research", "scripts", "tests")
                 for p in (REPO / folder).rglob("*.py") if "sys.path.insert" in p.read_text()
                 and p != Path(__file__).resolve()]
    assert offenders == []


def test_help_of_a_command_runs_as_a_module():
    result = subprocess.run([sys.executable, "-m", "pi_vision.commands.events_summary", "--help"],
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0 and "pi-vision-events-summary" in result.stdout
