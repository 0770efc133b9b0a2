"""Reading a user's numeric arrays (``.npy``, ``.npz``, ``.mat``) without unpickling: channels,
covariances, anything a command takes from a file."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from hbf_edge.errors import DatasetError

__all__ = ["read_array"]


def read_array(path: str | os.PathLike, key: str, what: str) -> np.ndarray:
    """A numeric array from a user's ``.npy``, ``.npz`` or ``.mat`` file (``key``: its name in
    a file of several arrays; ``what``: the word the errors use), complex128, C-contiguous;
    never unpickles."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{what} file {path} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            arr = np.load(path, allow_pickle=False)
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                names = list(data.files)
                name = key if key in names else (names[0] if len(names) == 1 else None)
                if name is None:
                    raise DatasetError(f"{path} holds arrays {names}: name the {what} array {key!r}")
                arr = np.array(data[name])
        elif suffix == ".mat":
            import scipy.io  # deferred: only .mat files need it

            data = {k: v for k, v in scipy.io.loadmat(path).items() if not k.startswith("__")}
            name = key if key in data else (next(iter(data)) if len(data) == 1 else None)
            if name is None:
                raise DatasetError(f"{path} holds variables {sorted(data)}: name the {what} array {key!r}")
            arr = np.asarray(data[name])
        else:
            raise DatasetError(f"{what} files are .npy, .npz or .mat, got {path.name}")
    except DatasetError:
        raise
    except Exception as exc:  # numpy/scipy raise many types for a corrupted or pickled file
        raise DatasetError(f"cannot read {what} file {path}: {type(exc).__name__}: {exc}") from exc
    if arr.dtype.kind not in "fciu":
        raise DatasetError(f"{path}: the {what} array must hold numbers, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr.astype(np.complex128))
