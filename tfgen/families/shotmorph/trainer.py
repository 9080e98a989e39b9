"""Training of a shot-morphing run (``train.py --model shotmorph``).

Training, all on the training classes: a classifier of those classes is
trained into ``RUN/classifier/`` (its features score the candidates; it
never sees a held-out class), the flow bank
(:func:`tfgen.families.shotmorph.policy.flow_bank`) is registered into
``RUN/flow_bank.npz``, the style prior (:class:`tfgen.families.shotmorph.restyle.StylePrior`)
into ``RUN/style_prior.npz``, then the policy is fitted
(:func:`tfgen.families.shotmorph.policy.fit_policy`); it and every candidate's score are
written to ``RUN/shot_policy.json`` and the policy into ``config.json``.
Adapting (:mod:`tfgen.families.shotmorph.adapt`) registers the shots of a
new class and returns the generator holding them and, when the policy uses
them, the bank and the style.

An interrupted training resumes: a finished classifier and bank are
reused, the fit (a few minutes) runs again.
"""

from __future__ import annotations

import dataclasses
import os
import time

import numpy as np

from tfgen.families.shotmorph.config import POLICY_FILE
from tfgen.files import write_json_atomic
from tfgen.registry import get_family
from tfgen.run_folder import RunFolder
from tfgen.runs import RunLock, check_resumable, clear_run_folder, save_run_config

CLASSIFIER_DIR = "classifier"
BANK_FILE = "flow_bank.npz"
STYLE_PRIOR_FILE = "style_prior.npz"
# Images the policy's classifier sees in training when classifier_epochs is 0
# (the benchmark's judge sees 40000).
CLASSIFIER_IMAGES_SEEN = 60_000
# What the classifier, flow bank and style prior a resumed fit reuses were
# made with: refused if changed on resume (the fit's own settings take effect).
FIXED_ON_RESUME = ("resolution", "channels", "train_classes", "test_classes", "shots", "classifier_epochs")


class ShotPolicyTrainer:
    """``fit()`` writes a shot-morphing run folder; see the module doc."""

    family = "shotmorph"

    def __init__(self, model_config, run_config, quiet=False):
        model_config.validate()
        run_config.validate()
        self.model_config, self.run_config, self.quiet = model_config, run_config, quiet
        self.run_dir = run_config.run_dir
        self.folder = RunFolder(self.run_dir)  # every path in the run folder

    def _say(self, message):
        if not self.quiet:
            print(f"[shotmorph {time.strftime('%H:%M:%S')}] {message}", flush=True)

    def fit(self, *, override=False):
        """Fit the policy unless the run has one already. Returns the run folder."""
        from tfgen.data.episodes import load_few_shot_data_for
        from tfgen.metrics import get_extractor
        from tfgen.features.classifier import CLASSIFIER_WEIGHTS_FILE, epochs_to_see, train_domain_classifier
        from tfgen.families.shotmorph.restyle import StylePrior, moments_of_uint8
        from tfgen.families.shotmorph.policy import CANDIDATES, fit_policy

        with RunLock(self.run_dir):
            if override:
                clear_run_folder(self.run_dir, self.run_config.runs_dir)
            check_resumable(self.run_dir, self.family, self.model_config, self.run_config, FIXED_ON_RESUME)
            policy_path = self.folder.path(POLICY_FILE)
            if self.folder.is_finished(get_family(self.family)):
                self._say(f"{self.run_dir} has its fitted policy already; nothing to do. Pass --override to fit afresh.")
                return self.run_dir
            config = self.model_config
            save_run_config(self.folder.config, self.family, config, self.run_config)
            data = load_few_shot_data_for(self.run_config.data, config).train
            started = time.perf_counter()
            folder = self.folder.path(CLASSIFIER_DIR)
            if not os.path.isfile(os.path.join(folder, CLASSIFIER_WEIGHTS_FILE)):
                epochs = config.classifier_epochs or epochs_to_see(CLASSIFIER_IMAGES_SEEN, len(data.labels))
                self._say(f"training a classifier of the {len(data.class_names)} training classes ({epochs} epochs)")
                train_domain_classifier(data, out_dir=folder, resolution=config.resolution, epochs=epochs,
                                        seed=self.run_config.seed, progress=not self.quiet)  # fmt: skip
            bank = self._flow_bank(data)
            styles = moments_of_uint8(data.images)
            StylePrior.fit(styles, data.labels, shots=config.shots, seed=self.run_config.seed).save(
                self.folder.path(STYLE_PRIOR_FILE)
            )
            self._say(f"fitting the policy: {len(CANDIDATES)} candidates on few-shot episodes of the training classes")
            policy, scores = fit_policy(
                data.images, data.labels, get_extractor("classifier", path=folder), bank=bank, styles=styles,
                shots=config.shots, seeds=tuple(range(config.fit_seeds)),
            )  # fmt: skip
            fitted = dataclasses.replace(config, **policy.to_json())
            save_run_config(self.folder.config, self.family, fitted, self.run_config)
            write_json_atomic(policy_path, {
                "policy": policy.to_json(),
                "candidates": [dict(c.to_json(), mean_log_fd_ratio=score) for c, score in scores.items()],
                "classes": list(data.class_names),
                "seconds": time.perf_counter() - started,
            }, indent=1)  # fmt: skip
            self._say(f"fitted {policy} in {time.perf_counter() - started:.0f} s; wrote {policy_path}")
        return self.run_dir

    def _flow_bank(self, data):
        """``(flows, labels)`` of the training classes, registered once and kept in the run."""
        from tfgen.families.shotmorph.policy import flow_bank

        path = self.folder.path(BANK_FILE)
        if not os.path.isfile(path):
            self._say("registering pairs of images of the training classes (the flow bank)")
            flows, labels = flow_bank(data.images, data.labels, seed=self.run_config.seed)
            partial = path + ".partial.npz"
            np.savez(partial, flows=flows.astype(np.float32), labels=labels)
            os.replace(partial, path)
        with np.load(path) as stored:
            return stored["flows"], stored["labels"]


__all__ = ["POLICY_FILE", "ShotPolicyTrainer"]
