"""Shared test setup: make the slow references of ``tests/naive.py`` importable as ``naive``."""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent))
