"""``python -m tfgen VERB [flags]``: the ``tfgen`` command (:mod:`tfgen.commands`)."""

import sys

from tfgen.commands import main

sys.exit(main())
