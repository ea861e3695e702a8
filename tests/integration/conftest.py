"""pytest picks the shared fixtures up from harness.py."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import backend, script, server  # noqa: E402,F401
