"""The command line and MLproject stay in step: the same steps, parameters and defaults."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from trackfit import cli

from .conftest import PROJECT, env_for

MLPROJECT = yaml.safe_load((PROJECT / "MLproject").read_text())["entry_points"]


def test_every_entry_point_is_a_command_with_the_same_parameters():
    for name, entry in MLPROJECT.items():
        command = cli.COMMANDS[name]
        options = [o.name for o in command.options]
        assert list(entry["parameters"]) == options, name
        assert entry["command"].split()[:4] == ["python", "-m", "trackfit", name]
        for option in options:
            assert f"--{option} {{{option}}}" in entry["command"], (name, option)


@pytest.mark.parametrize("name", sorted(MLPROJECT))
def test_mlproject_defaults_are_the_step_functions_defaults(name):
    command = cli.COMMANDS[name]
    defaults = cli.defaults(command)
    for option in command.options:
        declared = MLPROJECT[name]["parameters"][option.name].get("default")
        # MLproject declares whole numbers as float: compare what each turns into
        given = cli.convert(option, "" if declared is None else str(declared))
        wanted = cli.convert(option, cli.shown(defaults[option.name]))
        assert given == wanted, (name, option.name, declared, defaults[option.name])


def test_every_option_has_a_default_in_its_function():
    for name, command in cli.COMMANDS.items():
        defaults = cli.defaults(command)
        for option in command.options:
            assert option.positional or option.name in defaults, (name, option.name)


def test_strings_become_typed_values_at_the_edge():
    args = cli.build_parser().parse_args(
        ["train", "--params", "max_depth=3,criterion=poisson,ccp_alpha=0.5", "--cv", "5.0"])
    train = cli.COMMANDS["train"]
    values = {o.name: cli.convert(o, getattr(args, o.name)) for o in train.options}
    assert values["params"] == {"max_depth": 3, "criterion": "poisson", "ccp_alpha": 0.5}
    assert values["cv"] == 5 and values["test_size"] == 0.3
    args = cli.build_parser().parse_args(["main", "--estimators", "linear, tree,ridge"])
    main = cli.COMMANDS["main"]
    assert cli.convert(main.options[0], args.estimators) == ["linear", "tree", "ridge"]


def test_a_bad_number_is_one_line_and_exit_2_as_argparse_s_own_usage_errors(capsys):
    assert cli.main(["train", "--cv", "five"]) == 2
    assert capsys.readouterr().err == "trackfit: error: cv must be a whole number, got 'five'\n"
    with pytest.raises(SystemExit) as usage:
        cli.main(["train", "--no-such-option"])
    assert usage.value.code == 2


@pytest.mark.slow  # two new interpreters: the console script and python -m
def test_the_console_script_and_python_m_say_the_same():
    script = Path(sys.executable).with_name("trackfit")
    env = env_for("unused")  # both import this checkout's trackfit, wherever it is installed from
    by_script = subprocess.run([str(script), "--help"], capture_output=True, text=True, env=env)
    by_module = subprocess.run([sys.executable, "-m", "trackfit", "--help"],
                               capture_output=True, text=True, env=env)
    assert by_script.returncode == by_module.returncode == 0
    assert by_script.stdout == by_module.stdout
    for name in cli.COMMANDS:
        assert name in by_module.stdout
