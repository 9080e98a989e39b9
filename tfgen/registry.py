"""The one place that lists model families: name -> the package that registers it.

A family lives in ``tfgen/families/<package>/`` (its config and presets, its
networks, its trainer, its adaptation method); the package's ``FAMILIES``
maps each family name it defines to a :class:`ModelFamily`. ``config.json``
names a family, and everything that rebuilds or adapts a run from its folder
(``load_generator``, resuming, ``adapt``, ``train.py``, ``generate.py``)
goes through :func:`get_family`, so adding a family means one package and
one line in :data:`FAMILY_PACKAGES` (or :func:`register_family` at run time,
for a family defined outside tfgen).

Pure Python: the family packages import their networks and trainers only
when a builder or ``trainer_class()`` is called.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Callable, Mapping

from tfgen.errors import InputError
from tfgen.run_folder import RAW_WEIGHTS

FINISHED_FILE = RAW_WEIGHTS


@dataclasses.dataclass(frozen=True)
class ModelFamily:
    """Everything tfgen needs to know about one family.

    ``adapter`` -- the family's ``adapt.py`` entry point, as
    ``"module:function"`` (imported when first called: adapters import
    TensorFlow) or a callable; None for families that train on the images
    they are to make (FastGAN). :func:`tfgen.adaptation.adapt_run`, the one
    way in, calls it as ``adapter(run, shots, *, steps, seed, quiet,
    **options)`` once it has done the checks every family shares, so the
    adapter repeats none of them:

    * ``run`` is a :class:`tfgen.adaptation.MetaRun` of this family, read
      once (use ``run.model_config``, ``run.run_config``, ``run.folder`` and
      ``run.weight_paths()``; never read ``config.json`` again);
    * ``shots`` are uint8 [n, R, R, C], n >= 1, at the run's resolution and
      channels (:func:`tfgen.adaptation.check_shots`);
    * ``steps`` is the caller's (None: the family's default), ``seed`` an
      int, ``quiet`` a bool; ``options`` are among ``adapter_options``, plus
      ``method=`` (one of ``adapt_methods``) when the family offers several.

    It checks only what is its own (its steps, its options' values) and
    returns a :class:`tfgen.adaptation.Adaptation`.
    ``presets`` are the command line's defaults where the family's differ
    from its config's (``dataset``, ``steps``, ``resolution``, ...); train.py
    makes the config from its flags (``tfgen.cli.settings_from_flags``) after
    ``check_flags(flags)``, which refuses flags that make no sense for the family.
    """

    name: str
    config_class: type
    build_generator: Callable  # config -> built keras.Model
    build_discriminator: Callable  # config -> built keras.Model
    describe_generator: Callable  # config -> str, for error messages
    trainer_path: str  # "module:Class", imported lazily (trainers import TF)
    # The file whose presence says the run finished training.
    finished_file: str = FINISHED_FILE
    networks: str = ""  # the module whose import registers its Keras classes
    adapt_method: str | None = None  # generate.py --method: the default
    # Every method its adapter offers, the default first, when it offers several
    # (the adapter is then passed the one chosen as ``method=``).
    adapt_methods: tuple[str, ...] = ()
    adapter: Callable | str | None = None  # see above; "module:function" is imported lazily
    adapter_options: tuple[str, ...] = ()  # keyword options its adapter takes beyond the shared ones
    # Those options that are a settings dataclass (option -> class): generate.py
    # offers each field as a flag and passes the option when one is given.
    adapter_settings: Mapping = dataclasses.field(default_factory=dict)
    # generate --help's words on each adaptation method it offers (method -> text).
    method_help: Mapping = dataclasses.field(default_factory=dict)
    presets: Mapping = dataclasses.field(default_factory=dict)
    check_flags: Callable | None = None
    # False for families whose length is in their config (stages, a fit), not in --steps.
    trains_in_steps: bool = True
    # Why, when its training uses images of the held-out classes beyond the k shots
    # (the benchmark marks such a method: it is not k-shot there).
    sees_held_out_images: str = ""

    def trainer_class(self):
        module, name = self.trainer_path.split(":")
        return getattr(importlib.import_module(module), name)

    def adapter_function(self):
        """The adapter as a callable (a ``"module:function"`` imported now); None if it has none."""
        if not isinstance(self.adapter, str):
            return self.adapter
        module, name = self.adapter.split(":")
        return getattr(importlib.import_module(module), name)


# The settings most generators' descriptions name (those a config has).
DESCRIBED_FIELDS = ("resolution", "channels", "latent_dim", "width", "num_classes", "num_categories", "num_continuous")


def describe_model(class_name, config, fields=DESCRIBED_FIELDS, *, quote=False):
    """``"Class(field=value, ...)"`` for the ``fields`` ``config`` has: how
    error messages name the generator a config builds."""
    settings = ", ".join(f"{f}={getattr(config, f)!r}" if quote else f"{f}={getattr(config, f)}"
                         for f in fields if hasattr(config, f))  # fmt: skip
    return f"{class_name}({settings})"


# Family name -> the package whose FAMILIES defines it.
FAMILY_PACKAGES = {
    "fastgan": "tfgen.families.fastgan",
    "figr": "tfgen.families.figr",
    "dcgan": "tfgen.families.transfer",
    "cdcgan": "tfgen.families.transfer",
    "infogan": "tfgen.families.transfer",
    "stylegan": "tfgen.families.stylegan",
    "l2l": "tfgen.families.l2l",
    "shotmorph": "tfgen.families.shotmorph",
    "lofgan": "tfgen.families.lofgan",
    "dagan": "tfgen.families.dagan",
}

_REGISTERED: dict[str, ModelFamily] = {}


def register_family(family):
    """Make ``family`` (a :class:`ModelFamily` defined outside tfgen, e.g. in a
    test or a plug-in) known to every part of tfgen. Returns it."""
    if not isinstance(family, ModelFamily):
        raise TypeError(f"register_family takes a ModelFamily. Received: {type(family).__name__}")
    _REGISTERED[family.name] = family
    return family


def unregister_family(name):
    """Forget a family added with :func:`register_family` (tests)."""
    _REGISTERED.pop(name, None)


def family_names():
    """Every known family name, sorted."""
    return sorted({*FAMILY_PACKAGES, *_REGISTERED})


def get_family(name):
    """The :class:`ModelFamily` called ``name``; a clear error for unknown names."""
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name not in FAMILY_PACKAGES:
        raise InputError(f"Unknown model family {name!r}. Known families: {family_names()}.")
    return importlib.import_module(FAMILY_PACKAGES[name]).FAMILIES[name]


def adaptable_families():
    """Names of the families that have an adaptation method."""
    return [name for name in family_names() if get_family(name).adapter is not None]


def adapter_settings():
    """``[(family name, option, settings class)]`` of every adaptable family's
    :attr:`ModelFamily.adapter_settings`, in family order."""
    return [(name, option, cls) for name in adaptable_families()
            for option, cls in get_family(name).adapter_settings.items()]  # fmt: skip


def import_networks():
    """Import every family's networks module, which registers its classes
    with Keras (``.keras`` archives then load without custom objects)."""
    for name in family_names():
        module = get_family(name).networks
        if module:
            importlib.import_module(module)
