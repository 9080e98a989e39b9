"""One package per model family: its config and presets (``config.py``), its
networks (``networks.py``), its trainer (``trainer.py``), its adaptation, and
its registration in ``__init__.py`` (``FAMILIES``: name -> a
:class:`tfgen.registry.ModelFamily`). Families never import each other;
:mod:`tfgen.registry` lists them.
"""
