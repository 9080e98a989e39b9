"""The tiny StyleGAN base that the adaptation tests share: built once per
test process (package scope), read only by the tests."""

import pytest

from tfgen.config import RunConfig
from tfgen.data.episodes import load_shots
from tfgen.families.stylegan.config import StyleGANConfig
from tfgen.families.stylegan.trainer import StyleGANTrainer


@pytest.fixture(scope="package")
def style_run(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    config = StyleGANConfig(
        resolution=32, channels=1, latent_dim=8, w_dim=8, mapping_layers=2,
        channel_base=64, channel_max=8, batch_size=4,
    )  # fmt: skip
    run = RunConfig(name="style", runs_dir=str(runs), data="digits", steps=2, flip=False, sample_every=1000)
    StyleGANTrainer(config, run, quiet=True).fit()
    return runs / "style"


@pytest.fixture(scope="package")
def shots():
    return load_shots("digits:9", shots=4, resolution=32, channels=1, seed=0)
