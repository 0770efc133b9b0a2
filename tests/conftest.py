"""Shared test setup: the slow references ``tests/naive.py`` and ``tests/naive_fixed.py``
become importable as ``naive`` and ``naive_fixed``.

They are loaded by file rather than by putting ``tests/`` on ``sys.path``, where the test
folders ``tests/hbf_edge`` and ``tests/kernels`` would shadow the real packages.
"""

import importlib.util
import pathlib
import sys

for _name in ("naive", "naive_fixed"):
    _spec = importlib.util.spec_from_file_location(_name, pathlib.Path(__file__).with_name(f"{_name}.py"))
    _module = importlib.util.module_from_spec(_spec)
    sys.modules[_name] = _module
    _spec.loader.exec_module(_module)
