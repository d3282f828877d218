"""`fedrun --help` lists every config group with its options and points at the README."""

import re
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from fedrun.cli import CONF_DIR
from tests.conftest import run_fedrun

LISTED_ELSEWHERE = {"hydra"}  # hydra/launcher's options are listed under that name


def help_template():
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("config", return_hydra_config=True).hydra.help.template


def group_text(template, group):
    """The help lines of one group: its own line and the indented lines after it."""
    match = re.search(rf"^  {re.escape(group)} .*(?:\n {{10,}}.*)*", template, re.MULTILINE)
    assert match, f"group {group} is not listed"
    return match.group(0)


@pytest.mark.parametrize(
    "group",
    sorted(
        p.name for p in Path(CONF_DIR).iterdir() if p.is_dir() and p.name not in LISTED_ELSEWHERE
    )
    + ["hydra/launcher"],
    ids=lambda g: g,
)
def test_every_option_of_every_group_is_listed(group):
    text = group_text(help_template(), group)
    for option in sorted(p.stem for p in (Path(CONF_DIR) / group).glob("*.yaml")):
        assert re.search(rf"\b{option}\b", text), (group, option)


def test_help_points_at_the_config_tree_section():
    readme = (Path(CONF_DIR).parent / "README.md").read_text()
    assert "## The config tree" in readme
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        assert (
            'section "The config tree"'
            in compose("config", return_hydra_config=True).hydra.help.footer
        )


@pytest.mark.slow
def test_fedrun_help_prints_the_groups():
    result = run_fedrun(["--help"])
    assert result.returncode == 0, result.stderr
    assert "logger=[tensorboard,mlflow]" in result.stdout and "hydra/launcher" in result.stdout
    assert "${" not in result.stdout
