"""Help that a new user can read: a line for every flag, defaults shown; did-you-mean for commands."""

import argparse

import pytest

from paintscape.cli import COMMANDS, build_parser, main


def _subparsers(parser: argparse.ArgumentParser, prefix: str = "") -> dict[str, argparse.ArgumentParser]:
    """Every command and nested action (``benchmark run``, ...) by its full name."""
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found[prefix + name] = sub
                found.update(_subparsers(sub, prefix + name + " "))
    return found


@pytest.mark.parametrize("name", sorted(_subparsers(build_parser())))
def test_every_flag_of_every_command_has_a_help_line(name):
    sub = _subparsers(build_parser())[name]
    silent = [a.dest for a in sub._actions if not (a.help or "").strip()]
    assert not silent, f"paintscape {name}: no help for {silent}"


def test_nested_actions_are_checked_too():
    assert {"benchmark run", "benchmark validate"} <= set(_subparsers(build_parser()))


def test_help_shows_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["generate", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "(default: 8)" in out  # --batch-size
    assert "(default: jpg)" in out  # --format
    assert "(default: None)" not in out  # unset options say nothing rather than None


def test_a_mistyped_command_suggests_the_right_one(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["trian"])
    assert exit_info.value.code == 2
    assert "did you mean 'train'?" in capsys.readouterr().err


def test_a_mistyped_choice_suggests_too(capsys):
    with pytest.raises(SystemExit):
        main(["generate", "run", "labels", "out", "--format", "jpeg"])
    assert "did you mean 'jpg'?" in capsys.readouterr().err


def test_train_segmenter_names_the_variant(capsys):
    with pytest.raises(SystemExit):
        main(["train-segmenter", "--help"])
    assert "--variant" in capsys.readouterr().out


@pytest.mark.parametrize(
    "size, message",
    [("big", "size 'big' must look like WIDTHxHEIGHT, e.g. 512x384"), ("0x24", "size '0x24' must be positive")],
)
def test_a_bad_size_is_a_usage_error(size, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["synth", str(tmp_path / "data"), "--size", size])
    assert exited.value.code == 2 and message in capsys.readouterr().err and not (tmp_path / "data").exists()


def test_synth_below_the_smallest_scene_is_one_line(tmp_path, capsys):
    assert main(["synth", str(tmp_path / "data"), "--size", "8x8", "--count", "1"]) == 2
    assert "make_scene size must be at least (16, 16) as (height, width), got (8, 8)" in capsys.readouterr().err


def test_arguments_a_command_does_not_take_are_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["synth", str(tmp_path / "data"), "data.size=1x1"])  # synth takes no key=value overrides
    assert exited.value.code == 2 and "unrecognized arguments: data.size=1x1" in capsys.readouterr().err


def test_an_error_is_one_line_and_verbose_shows_the_traceback(tmp_path, capsys):
    assert main(["synth", str(tmp_path / "data"), "--count", "0"]) == 2
    assert capsys.readouterr().err == "paintscape synth: error: --count must be positive, got 0\n(run with --verbose for the traceback)\n"
    with pytest.raises(ValueError, match="--count must be positive"):  # the interpreter prints the traceback
        main(["--verbose", "synth", str(tmp_path / "data"), "--count", "0"])


def test_ctrl_c_is_one_line_and_exit_130(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setitem(COMMANDS, "configs", interrupted)
    assert main(["configs"]) == 130
    assert capsys.readouterr().err == "interrupted\n"
