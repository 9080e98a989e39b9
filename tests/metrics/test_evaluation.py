"""evaluate(): generated images (array, folder or generator) against real ones."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from tfgen.metrics.evaluation import evaluate, read_image_folder
from tfgen.metrics.registry import METRICS, get_metric, parse_metric_names

from .tiny_extractor import TinyPixelExtractor


def save_pngs(folder, images):
    os.makedirs(folder, exist_ok=True)
    for i, image in enumerate(images):
        Image.fromarray(image).save(os.path.join(folder, f"{i:03d}.png"))


@pytest.fixture
def real_folder(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (12, 16, 16, 3), dtype=np.uint8)
    save_pngs(tmp_path / "real", images)
    return str(tmp_path / "real"), images


def test_real_images_against_themselves_score_perfectly(real_folder, tmp_path):
    folder, images = real_folder
    result = evaluate(
        real=folder,
        generated=images,
        metrics="fid,kid,pr,diversity,memorisation",
        features=TinyPixelExtractor(),
        cache_dir=str(tmp_path / "cache"),
    )
    metrics = result["metrics"]
    assert abs(metrics["fid"]) < 1e-6
    assert metrics["precision"] == 1.0 and metrics["recall"] == 1.0
    assert metrics["copy_share"] == 1.0  # every "generated" image is a training image
    assert metrics["diversity"] == pytest.approx(metrics["diversity_real"])
    assert result["num_generated"] == result["num_real"] == 12
    assert result["resolution"] == 16 and result["features"] == "tiny_pixels"


def test_shifted_images_score_worse(real_folder, tmp_path):
    folder, images = real_folder
    darker = (images // 3).astype(np.uint8)
    same = evaluate(real=folder, generated=images, metrics="fid", features=TinyPixelExtractor(), use_cache=False)
    worse = evaluate(real=folder, generated=darker, metrics="fid", features=TinyPixelExtractor(), use_cache=False)
    assert worse["metrics"]["fid"] > same["metrics"]["fid"] + 0.1


def test_generated_folder_and_num_images(real_folder, tmp_path):
    folder, images = real_folder
    save_pngs(tmp_path / "fake", images[:6])
    result = evaluate(
        real=folder, generated=str(tmp_path / "fake"), metrics="fid", features=TinyPixelExtractor(),
        num_images=5, use_cache=False,
    )  # fmt: skip
    assert result["num_generated"] == 5
    with pytest.raises(ValueError, match="has 6"):
        evaluate(real=folder, generated=str(tmp_path / "fake"), features=TinyPixelExtractor(), num_images=7)


def test_mismatched_sizes_in_a_generated_folder_are_an_error(tmp_path):
    save_pngs(tmp_path / "fake", [np.zeros((16, 16, 3), np.uint8), np.zeros((8, 8, 3), np.uint8)])
    with pytest.raises(ValueError, match="different sizes"):
        read_image_folder(str(tmp_path / "fake"))


def test_bad_generated_input_is_an_error(real_folder, tmp_path):
    folder, images = real_folder
    extractor = TinyPixelExtractor()
    with pytest.raises(ValueError, match="uint8"):
        evaluate(real=folder, generated=images.astype(np.float32), features=extractor)
    with pytest.raises(ValueError, match="exactly one"):
        evaluate(real=folder, features=extractor)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="0 readable images"):
        evaluate(real=folder, generated=str(tmp_path / "empty"), features=extractor)
    with pytest.raises(ValueError, match="square"):
        evaluate(real=folder, generated=np.zeros((4, 16, 8, 3), np.uint8), features=extractor)
    with pytest.raises(ValueError, match="Unknown metric 'fdi'"):
        evaluate(real=folder, generated=images, metrics="fdi", features=extractor)


def test_accuracy_on_a_target_class_by_name_or_index(real_folder):
    folder, _ = real_folder
    # Bright top-left quadrant -> class 0 ("top_left") for the tiny extractor.
    generated = np.zeros((10, 16, 16, 3), np.uint8)
    generated[:7, :8, :8] = 255
    generated[7:, 8:, 8:] = 255
    for target in ("top_left", 0, "0"):
        result = evaluate(
            real=folder, generated=generated, metrics="accuracy", features=TinyPixelExtractor(),
            target_class=target, use_cache=False,
        )  # fmt: skip
        assert result["metrics"]["class_share"] == pytest.approx(0.7)
    with pytest.raises(ValueError, match="Unknown target class"):
        evaluate(real=folder, generated=generated, metrics="accuracy", features=TinyPixelExtractor(),
                 target_class="middle")  # fmt: skip
    with pytest.raises(ValueError, match="needs a target class"):
        evaluate(real=folder, generated=generated, metrics="accuracy", features=TinyPixelExtractor())


def test_metrics_needing_logits_refuse_an_extractor_without_them(real_folder):
    folder, images = real_folder
    extractor = TinyPixelExtractor()
    extractor.num_classes = None
    with pytest.raises(ValueError, match="need class logits"):
        evaluate(real=folder, generated=images, metrics="is", features=extractor)


def test_a_generator_is_sampled_at_its_resolution():
    from tfgen.families.fastgan.networks import FastGANGenerator
    from tfgen.sampling import generate

    generator = FastGANGenerator(output_resolution=64, latent_dim=8, ngf=2)
    options = dict(real="digits:3", features=TinyPixelExtractor(), num_real=20, use_cache=False, batch_size=4)
    # Feature-only metrics stream the generated batches; pixel metrics keep them.
    streamed = evaluate(generator=generator, metrics="fid,pr", num_images=6, **options)
    kept = evaluate(generator=generator, metrics="fid,mse_ssim", num_images=6, **options)
    assert streamed["resolution"] == 64 and streamed["num_generated"] == 6 and streamed["num_real"] == 20
    assert np.isfinite(streamed["metrics"]["fid"]) and streamed["metrics"]["fid"] > 0
    assert kept["metrics"]["fid"] == pytest.approx(streamed["metrics"]["fid"])
    assert 0 < kept["metrics"]["mse"]
    # The same images as generate() with the same seed.
    images = generate(generator, 6, batch_size=4, seed=0)
    from_array = evaluate(generated=images, metrics="fid", **options)
    assert from_array["metrics"]["fid"] == pytest.approx(streamed["metrics"]["fid"])
    json.dumps(streamed)  # JSON-serialisable as evaluate.py writes it


def test_metric_names_and_aliases():
    assert [m.name for m in parse_metric_names("fid, kid,fid")] == ["fid", "kid"]
    assert get_metric("memorization") is METRICS["memorisation"]
    assert get_metric("SSIM") is METRICS["mse_ssim"]
    with pytest.raises(ValueError, match="No metrics"):
        parse_metric_names("")
