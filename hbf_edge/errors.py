"""Exception hierarchy of hbf-edge.

Every error the library raises on bad input derives from :class:`HbfEdgeError`, so the CLI can
turn it into a one-line message and exit code 2.  The subclasses also derive from the matching
builtin (``ValueError``, ``TypeError``, ``FileNotFoundError``) so callers that catch builtins
keep working.
"""

from __future__ import annotations

__all__ = [
    "HbfEdgeError",
    "ConfigError",
    "ShapeError",
    "DTypeError",
    "InvalidChannelError",
    "ModelDirError",
    "DatasetError",
    "ClusterError",
    "SecondProcessError",
]


class HbfEdgeError(Exception):
    """Base class of every error hbf-edge raises on purpose."""


class ConfigError(HbfEdgeError, ValueError):
    """A setting is out of range or inconsistent (bits, sizes, powers, layer counts)."""


class ShapeError(HbfEdgeError, ValueError):
    """An array has the wrong number of dimensions or the wrong sizes."""


class DTypeError(HbfEdgeError, TypeError):
    """An array has the wrong dtype (or is not contiguous where a kernel needs it)."""


class InvalidChannelError(HbfEdgeError, ValueError):
    """A channel holds NaN/inf or is all zero, so no precoder can be designed for it."""


class ModelDirError(HbfEdgeError, ValueError):
    """A model directory is missing files, has been altered, or is of an unknown format."""


class DatasetError(HbfEdgeError, ValueError):
    """A channel dataset file is missing, corrupted, or inconsistent with its parameters."""


class ClusterError(HbfEdgeError, RuntimeError):
    """The Dask cluster of a sweep failed (a task kept killing its workers, the scheduler went
    away); what finished is kept, and the same command resumes."""


class SecondProcessError(HbfEdgeError, RuntimeError):
    """A job the toolkit ran in a second process (the demo's evaluation beside its QAT) failed;
    the message names the job and ends with the process's last message."""
