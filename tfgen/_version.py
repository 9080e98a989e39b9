"""tfgen's version, written only here: pyproject.toml reads it (setuptools'
``dynamic = ["version"]``, statically, without importing tfgen) and
``tfgen.__version__`` is this value."""

__version__ = "0.1.0"
