"""The CLIs' error handling: tfgen's input errors as one line, everything else with its traceback."""

import pytest

from tfgen.cli import clean_errors
from tfgen.errors import InputError


def _raising(error):
    def main(argv):
        raise error

    return clean_errors(main)


@pytest.mark.parametrize("error", [InputError("--steps must be >= 0. Received: -1"), FileNotFoundError("no such folder")])
def test_input_errors_print_one_line_and_exit_2(error, capsys):
    with pytest.raises(SystemExit) as exit_info:
        _raising(error)(["prog"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == f"error: {error}\n"


@pytest.mark.parametrize("error", [ValueError("a Keras shape mismatch"), TypeError("a bug"), RuntimeError("TF")])
def test_other_errors_keep_their_traceback(error):
    with pytest.raises(type(error), match=str(error)):
        _raising(error)(["prog"])


def test_input_error_is_a_value_error():
    assert issubclass(InputError, ValueError)  # callers catching ValueError keep working


def test_an_input_error_met_while_tracing_stays_an_input_error():
    import tensorflow as tf

    @tf.function
    def step(x):
        raise InputError("Unknown DiffAugment policy 'blur'")

    with pytest.raises(InputError, match="Unknown DiffAugment policy 'blur'"):
        step(tf.constant(1.0))


class _Flag:
    def __init__(self, value):
        self.value = value


@pytest.mark.parametrize(
    "switch, policy, expected",
    [
        (None, None, "family default"),  # neither given
        (True, None, "color,translation"),  # --diff-augment: the default policy
        (False, None, ""),  # --nodiff-augment
        (None, "cutout", "cutout"),  # --diff-augment-policy
        (True, "translation,cutout", "translation,cutout"),
    ],
)
def test_diff_augment_flags(switch, policy, expected):
    from tfgen.cli import diff_augment_from_flags

    flags = {"diff-augment": _Flag(switch), "diff-augment-policy": _Flag(policy)}
    assert diff_augment_from_flags(flags, "family default") == expected


def test_nodiff_augment_with_a_policy_is_refused():
    from tfgen.cli import diff_augment_from_flags

    flags = {"diff-augment": _Flag(False), "diff-augment-policy": _Flag("cutout")}
    with pytest.raises(InputError, match="give one"):
        diff_augment_from_flags(flags, "")
