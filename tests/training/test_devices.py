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


def test_auto_precision_picks_float16_on_a_gpu_and_measures_bfloat16_on_a_cpu():
    from tfgen.training.devices import choose_precision

    def never():
        raise AssertionError("measured without a reason to")

    assert choose_precision(gpus=["GPU:0"], measure=never)[0] == "float16"
    assert choose_precision(gpus=["GPU:0"], allow_float16=False, measure=never)[0] == "bfloat16"
    choice, why = choose_precision(gpus=[], flags={"avx2", "fma"}, measure=never)
    assert choice == "off" and "no AVX512-BF16 or AMX" in why
    assert choose_precision(gpus=[], flags={"amx_bf16"}, measure=lambda: 2.0)[0] == "bfloat16"
    choice, why = choose_precision(gpus=[], flags={"avx512_bf16"}, measure=lambda: 1.05)
    assert choice == "off" and "1.05x" in why


def test_a_trainer_resolves_auto_before_it_builds_anything(tmp_path, monkeypatch):
    import tfgen.training.devices as devices_module
    from tfgen.families.transfer.config import DCGANConfig
    from tfgen.families.transfer.trainer import DCGANTrainer

    monkeypatch.setattr(devices_module, "choose_precision", lambda allow_float16: ("bfloat16", "a test said so"))
    config = RunConfig(runs_dir=str(tmp_path), mixed_precision="auto", steps=1)
    trainer = DCGANTrainer(DCGANConfig(width=4, latent_dim=8), config, quiet=True)
    assert trainer.run_config.mixed_precision == "bfloat16"
    assert trainer.generator.dtype_policy.name == "mixed_bfloat16"
    assert trainer.precision_note == "mixed bfloat16 (--mixed-precision auto: a test said so)"
