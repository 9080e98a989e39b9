"""Feature networks: uint8 images in, feature (and logit) arrays out.

Below both :mod:`tfgen.metrics` and :mod:`tfgen.perceptual`:
``extractor.py`` (the base class and the name -> module table),
``inception.py`` (InceptionV3), ``efficientnet_lite.py`` (EfficientNet-Lite0,
weights read by ``torch_pickle.py`` without torch) and ``classifier.py`` (the
domain classifier).
"""

from tfgen.features.extractor import FeatureExtractor, get_extractor, list_extractors, register_extractor

__all__ = ["FeatureExtractor", "get_extractor", "list_extractors", "register_extractor"]
