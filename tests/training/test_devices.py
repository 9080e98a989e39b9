"""The devices a run names at its start, and the settings refused without a GPU."""

import os

import pytest
import tensorflow as tf

from tfgen.config import RunConfig
from tfgen.training.devices import check_hardware_settings, describe_devices


def test_the_default_strategy_here_is_the_cpu():
    assert describe_devices(tf.distribute.get_strategy()) == f"the CPU ({os.cpu_count()} cores)"


@pytest.mark.parametrize(
    "settings, message",
    [
        (dict(mixed_precision="float16"), "float16 needs a GPU"),
        (dict(strategy="mirrored"), "mirrored spreads each step over the local GPUs"),
    ],
)
def test_settings_that_need_a_gpu_are_refused_without_one(settings, message):
    one_cpu = ["/device:CPU:0"]
    with pytest.raises(ValueError, match=message) as error:
        check_hardware_settings(RunConfig(**settings), gpus=[], cpu_devices=one_cpu)
    assert "tensorflow[and-cuda]" in str(error.value)
    check_hardware_settings(RunConfig(**settings), gpus=["/physical_device:GPU:0"], cpu_devices=one_cpu)  # fine


def test_what_works_without_a_gpu_is_left_alone():
    for settings in (dict(), dict(mixed_precision="bfloat16"), dict(strategy="multiworker")):
        check_hardware_settings(RunConfig(**settings), gpus=[], cpu_devices=["/device:CPU:0"])
    # Tests split the CPU into logical devices to mirror over them.
    check_hardware_settings(RunConfig(strategy="mirrored"), gpus=[], cpu_devices=["/device:CPU:0", "/device:CPU:1"])
