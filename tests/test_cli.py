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
