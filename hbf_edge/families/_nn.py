"""Torch layers the families' black-box comparison networks share (the JCEHB black box, the
MSER benchmark CNN)."""

from __future__ import annotations

from torch import nn

__all__ = ["BatchNorm1d", "BatchNorm2d"]


class _NoCounter:
    """Batch normalisation without the 0-d ``num_batches_tracked`` counter (used only without a
    momentum; a model directory holds arrays of one or more dimensions), loading without it."""

    def _drop_counter(self) -> None:
        self.register_buffer("num_batches_tracked", None)

    def _load_from_state_dict(self, *args, **kwargs) -> None:  # noqa: D401 - torch's hook
        nn.Module._load_from_state_dict(self, *args, **kwargs)  # not BatchNorm's, which adds the counter back


class BatchNorm1d(_NoCounter, nn.BatchNorm1d):
    def __init__(self, n: int) -> None:
        super().__init__(n)
        self._drop_counter()


class BatchNorm2d(_NoCounter, nn.BatchNorm2d):
    def __init__(self, n: int) -> None:
        super().__init__(n)
        self._drop_counter()
