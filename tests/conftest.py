"""The whole suite runs with downloads off (TFGEN_OFFLINE=1, inherited by the
processes the tests start): no test may depend on, or wait for, the network.
tests/features/test_downloads.py turns them on for its local server."""

import os

from tfgen.features.downloads import OFFLINE_VARIABLE

os.environ[OFFLINE_VARIABLE] = "1"
