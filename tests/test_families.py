"""The family registry: every family is reached through tfgen.registry, and a
family defined outside tfgen (here) works end to end once registered."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest

from tfgen.adaptation import Adaptation, adapt_run, save_adapted
from tfgen.config import RunConfig
from tfgen.registry import (
    FAMILY_PACKAGES,
    ModelFamily,
    adaptable_families,
    family_names,
    get_family,
    register_family,
    unregister_family,
)
from tfgen.runs import load_generator, load_run_config
from tfgen.sampling import generate
from tfgen.training.trainer import Trainer

from .training.toy_gan import ToyConfig, ToyDiscriminator, ToyGenerator, ToyTrainer, interrupt_on_call


@dataclasses.dataclass
class PlugConfig(ToyConfig):
    channels: int = 3  # what adaptation checks the shots against

    family = "plug"


class PlugTrainer(ToyTrainer):
    """The toy GAN's step, with its networks from the registered family (the
    base Trainer's builders), as a family of tfgen's own gets them."""

    family = "plug"
    build_generator = Trainer.build_generator
    build_discriminator = Trainer.build_discriminator


def plug_adapter(run, shots, *, steps=None, seed=0, quiet=True, shift=0.0):
    """Adapts by loading the run's generator and moving its output bias by ``shift``."""
    generator = load_generator(run.folder)
    generator.dense.bias.assign(generator.dense.bias + shift)
    return Adaptation(generator, run, run.model_config)


PLUG = ModelFamily(
    name="plug",
    config_class=PlugConfig,
    build_generator=lambda c: ToyGenerator(latent_dim=c.latent_dim, resolution=c.resolution, name="generator"),
    build_discriminator=lambda c: ToyDiscriminator(resolution=c.resolution, name="discriminator"),
    describe_generator=lambda c: f"ToyGenerator(resolution={c.resolution})",
    trainer_path="tests.test_families:PlugTrainer",
    adapt_method="nudge",
    adapter=plug_adapter,
    adapter_options=("shift",),
    presets={"dataset": "toy"},
)


@pytest.fixture
def plug():
    with pytest.raises(ValueError, match="Unknown model family 'plug'"):
        get_family("plug")
    register_family(PLUG)
    yield PLUG
    unregister_family("plug")


def _run(tmp_path, name, steps):
    return RunConfig(name=name, runs_dir=str(tmp_path), data="toy", steps=steps, seed=3, sample_every=2,
                     checkpoint_every=2, log_every=1)  # fmt: skip


def test_every_family_registers_itself_under_its_name():
    assert set(family_names()) == set(FAMILY_PACKAGES)
    for name in family_names():
        family = get_family(name)
        assert family.name == name and family.config_class.family == name
        assert family.trainer_class().family == name
        assert "dataset" in family.presets
    assert set(adaptable_families()) == set(FAMILY_PACKAGES) - {"fastgan"}


def test_a_family_from_outside_tfgen_trains_resumes_loads_and_adapts(plug, tmp_path):
    trainer_class = get_family("plug").trainer_class()
    whole = trainer_class(PlugConfig(), _run(tmp_path, "whole", 4), quiet=True)
    whole.fit()

    interrupted = trainer_class(PlugConfig(), _run(tmp_path, "resumed", 4), quiet=True)
    interrupt_on_call(interrupted, 3)
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit()
    trainer_class(PlugConfig(), _run(tmp_path, "resumed", 4), quiet=True).fit()

    family, config, _ = load_run_config(str(tmp_path / "resumed"))
    assert family == "plug" and isinstance(config, PlugConfig)
    for ema in (True, False):
        expected = load_generator(str(tmp_path / "whole"), ema=ema)
        resumed = load_generator(str(tmp_path / "resumed"), ema=ema)
        assert isinstance(resumed, ToyGenerator)
        for a, b in zip(expected.get_weights(), resumed.get_weights()):
            np.testing.assert_array_equal(a, b)
    images = generate(load_generator(str(tmp_path / "resumed")), 5, seed=1)
    assert images.shape == (5, 8, 8, 3) and images.dtype == np.uint8

    shots = np.zeros((2, 8, 8, 3), np.uint8)
    adaptation = adapt_run(str(tmp_path / "resumed"), shots, method="nudge", shift=0.5)
    moved = adaptation.generator.dense.bias.numpy() - load_generator(str(tmp_path / "resumed")).dense.bias.numpy()
    np.testing.assert_allclose(moved, 0.5, rtol=1e-6)
    saved = save_adapted(adaptation, str(tmp_path / "adapted"))
    np.testing.assert_array_equal(generate(load_generator(saved), 3), generate(adaptation.generator, 3))
    with pytest.raises(ValueError, match=r"takes the options \['shift'\]"):
        adapt_run(str(tmp_path / "resumed"), shots, base_mix=0.5)
    with pytest.raises(ValueError, match="adapts with method 'nudge'"):
        adapt_run(str(tmp_path / "resumed"), shots, method="reptile")


def test_families_without_adaptation_are_refused_by_adapt(tmp_path):
    from tfgen.families.fastgan.config import FastGANConfig
    from tfgen.runs import save_run_config

    os.makedirs(tmp_path / "fastgan")
    save_run_config(str(tmp_path / "fastgan" / "config.json"), "fastgan", FastGANConfig(), RunConfig())
    with pytest.raises(ValueError, match="fastgan run"):
        adapt_run(str(tmp_path / "fastgan"), np.zeros((1, 256, 256, 3), np.uint8))


KERAS_ARCHIVES_SCRIPT = """
import sys
from tfgen.families.figr import build_generator as figr_generator
from tfgen.families.figr.config import FIGRConfig
from tfgen.families.l2l import build_generator as l2l_generator
from tfgen.families.l2l.config import L2LConfig
figr_generator(FIGRConfig(width=4)).save(sys.argv[1] + "/figr.keras")
l2l_generator(L2LConfig(resolution=32, width=4, channels=1)).save(sys.argv[1] + "/l2l.keras")
print("RESULT {}")
"""

LOAD_SCRIPT = """
import json, sys
import keras
import tfgen  # nothing else: importing tfgen registers every family's classes
names = [type(keras.saving.load_model(sys.argv[1] + "/" + name + ".keras", compile=False)).__name__
         for name in ("figr", "l2l")]
print("RESULT " + json.dumps(names))
"""


def test_import_tfgen_makes_every_familys_keras_archive_loadable(tmp_path):
    from tests.scripts import run_result_script

    run_result_script(KERAS_ARCHIVES_SCRIPT, tmp_path)
    # A fresh process that imports only tfgen (and Keras) loads them.
    assert run_result_script(LOAD_SCRIPT, tmp_path) == ["FIGRGenerator", "L2LGenerator"]
