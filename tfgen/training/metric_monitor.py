"""A metric measured during training, and the best weights kept by it.

``train.py --fid --fid-frequency N --fid-number-of-images M`` (the SLE-GAN
reference's flags) makes the trainer call :meth:`MetricMonitor.measure`
every N steps with its EMA generator: M images are generated from fixed
latents, their features compared with the (cached) real features of the
training data, the value logged to TensorBoard and appended to
``<run>/metrics.jsonl``; when it is the best so far, the networks' weights
go to ``<run>/best/`` with a copy of ``config.json``, so
``load_generator("runs/NAME/best")`` and ``generate.py --generator
runs/NAME/best`` work on it directly.
"""

from __future__ import annotations

import math

from tfgen.metrics import registry
from tfgen.metrics.cache import real_features
from tfgen.metrics.evaluation import evaluate
from tfgen.features.extractor import default_features, extractor_label, get_extractor
from tfgen.errors import InputError



def extractor_options(features, weights):
    """The extractor's constructor options for a user-given weights path."""
    if not weights:
        return {}
    return {"path": weights} if features == "classifier" else {"weights_path": weights}


class MetricMonitor:
    """Measures ``run_config.fid_metric`` of a generator against the training data.

    Built when training starts, so that a missing extractor weights file or a
    metric that cannot run during training fails before any step is taken;
    the real features are extracted (or read from the cache) then too.
    """

    def __init__(self, run_config, *, resolution, batch_size=50, quiet=False):
        self.metric = registry.get_metric(run_config.fid_metric)
        # Path lengths (GENERATOR) are measured on finished runs: evaluate.py
        # --generator RUN --metrics ppl_w.
        unsupported = self.metric.needs & {registry.PIXELS, registry.TARGET_CLASS, registry.GENERATOR}
        if unsupported:
            raise InputError(
                f"--fid-metric {self.metric.name} needs {', '.join(sorted(unsupported))}, which "
                "training does not provide; choose fid, kid, pr, dc, diversity or memorisation, "
                "and run evaluate.py for the others."
            )
        # None (a RunConfig built directly): the default make_configs would choose.
        features = run_config.fid_features or default_features(run_config.fid_feature_weights)
        self.extractor = get_extractor(features, **extractor_options(features, run_config.fid_feature_weights))
        if registry.LOGITS in self.metric.needs and self.extractor.num_classes is None:
            raise InputError(
                f"--fid-metric {self.metric.name} needs class logits; the "
                f"{self.extractor.name} extractor has none."
            )
        self.data = run_config.data
        self.num_images = run_config.fid_number_of_images
        self.seed = run_config.seed
        self.resolution = resolution
        self.batch_size = batch_size
        # Fills the cache now; later measurements only read it.
        real_features(self.data, self.extractor, resolution=resolution, batch_size=batch_size, progress=not quiet)

    @property
    def label(self) -> str:
        """Which network the metric reads, in words ("pytorch-fid Inception")."""
        return getattr(self.extractor, "label", None) or extractor_label(self.extractor.name)

    @property
    def name(self) -> str:
        """The value compared across steps, e.g. ``fid`` or ``kid``."""
        return self.metric.headline

    def is_better(self, value: float, best: float) -> bool:
        if math.isnan(best):
            return not math.isnan(value)
        return value < best if self.metric.lower_is_better else value > best

    def measure(self, generator) -> dict[str, float]:
        """All values of the metric (e.g. ``{"kid": .., "kid_std": ..}``)."""
        result = evaluate(
            real=self.data,
            generator=generator,
            metrics=[self.metric.name],
            features=self.extractor,
            num_images=self.num_images,
            batch_size=self.batch_size,
            seed=self.seed,
        )
        return result["metrics"]
