"""The family protocol: what a family of unfolded networks is, and what each stage asks of it.

Numpy only (``kernels/`` reads :class:`FamilySpec`).  A family is one :class:`FamilySpec` plus
one implementation per stage, each a plain object that satisfies the stage's protocol:

* :class:`CoreStage` (``hbf_edge/families/<f>/``): channels, float training, evaluation,
  profile, the float torch network;
* :class:`KernelStage` (``kernels/<f>/``): the Numba float and hardware kernels on arrays;
* :class:`QuantStage` (``quant/<f>/``): quantize a float model directory, load a quantized one;
* :class:`ExportStage` (``export/<f>/``): the verified bundle of a quantized model.

Options of the commands are the fields of the settings dataclasses each stage names
(``train_settings``, ``eval_settings``, ...): their defaults are the paper's, their
``metadata`` holds the help text and, optionally, ``flag`` (a short flag such as ``-Q``),
``choices``, ``nargs`` and ``metavar``.  :func:`field` writes such a field.

Every operation that reports to a person takes ``say`` (a callable given one line of text; the
CLI passes :func:`print`, the library default is :func:`logging.info`) and returns the
machine-readable result; no stage prints.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np

__all__ = ["FamilySpec", "CoreStage", "KernelStage", "QuantStage", "ExportStage", "SweepHooks", "field", "Say", "log_say",
           "STAGES"]

STAGES = ("core", "kernels", "quant", "export")
Say = Callable[[str], None]
_log = logging.getLogger("hbf_edge")


def log_say(line: str) -> None:
    """The library's default ``say``: one ``logging.info`` record per line."""
    _log.info(line)


def field(default: Any, help: str, **cli: Any) -> Any:  # noqa: A002 - argparse's own word
    """A settings field with its help text and CLI hints (``flag``, ``choices``, ``nargs``,
    ``metavar``, ``old``: a former spelling still accepted with a deprecation line) and
    ``qat_only=True`` (a quantize option that only QAT uses: refused with ``--method ptq`` when
    set); mutable defaults (lists) are copied per instance."""
    meta = {"help": help, **cli}
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@dataclasses.dataclass(frozen=True)
class FamilySpec:
    """What a family is, independent of any stage.

    Attributes
    ----------
    name : str
        Registry key, the CLI subcommand and ``config.json``'s ``family``.
    paper : str
        The paper's file in ``papers/``.
    title : str
        One line for ``--help``.
    channel_axes : tuple of str
        Axis names of the family's channel array, batch first (e.g. ``("B", "N", "K")``); the
        array is complex, key ``H`` in ``.npz``/``.mat`` files.
    metrics : tuple of str
        Names of the evaluation metrics (keys of the evaluation result).
    formats : tuple of str
        Named fixed-point formats of the hardware datapath, in the order of the kernels' format
        table rows (empty: the family has no fixed-point datapath of that kind).
    counter_sites : tuple of str
        Overflow-counter sites of the hardware kernel, in counter-column order.
    tiny : callable
        ``tiny() -> train settings`` for a model small enough for the contract tests.
    datapath : str, optional
        The family whose kernels and hardware datapath this family's models run on (a family
        that only trains differently reuses another's); default: its own name.
    """

    name: str
    paper: str
    title: str
    channel_axes: tuple[str, ...]
    metrics: tuple[str, ...]
    formats: tuple[str, ...]
    counter_sites: tuple[str, ...]
    tiny: Callable[[], Any]
    datapath: str | None = None

    @property
    def runs_on(self) -> str:
        """The datapath this family's models run on."""
        return self.datapath or self.name

    def format_index(self, name: str) -> int:
        """Row of format ``name`` in the kernels' format table."""
        return self.formats.index(name)

    def site_index(self, name: str) -> int:
        """Column of counter site ``name`` in the kernels' overflow counters."""
        return self.counter_sites.index(name)


@runtime_checkable
class CoreStage(Protocol):
    """The float side of a family (``hbf_edge/families/<f>/``; torch allowed, not quant/export).

    Optional: ``bench_settings`` + ``bench(settings, load)`` (``hbf-edge bench model``),
    ``agreement_settings`` (``hbf-edge bench agreement``, run by the quant stage)."""

    spec: FamilySpec
    channel_settings: type
    train_settings: type
    eval_settings: type
    profile_settings: type

    def check_config(self, config: Any) -> None:
        """Refuse (``ModelDirError``) a ModelConfig whose ``family_config`` is not the family's."""

    def expected_arrays(self, config: Any) -> dict[str, tuple[int, ...]]:
        """Name -> shape of every array a model directory of ``config`` holds."""

    def build(self, config: Any) -> Any:
        """A freshly initialised torch network of ``config``."""

    def load(self, model_dir: Path) -> tuple[Any, Any]:
        """The float torch network and ModelConfig of a directory."""

    def torch_forward(self, model: Any, H: np.ndarray, **conditions: Any) -> dict[str, np.ndarray]:
        """The torch network on channels ``H``, with the keys of the kernel stage's ``forward``."""

    def channel_shape(self, config: Any) -> tuple[int, ...]:
        """Shape of one channel (no batch axis) that a model of ``config`` takes."""

    def draw_channels(self, config: Any, count: int, seed: int) -> np.ndarray:
        """``count`` held-out channels like the model's training channels, seeded."""

    def read_channels(self, path: Path, config: Any | None = None, split: str = "test") -> np.ndarray:
        """A dataset's ``split`` or a plain array file, checked against ``config``'s sizes."""

    def make_channels(self, settings: Any, say: Say) -> Path:
        """Write a seeded channel dataset of the family's kind (``hbf-edge channels``)."""

    def train(self, settings: Any, say: Say) -> dict[str, Any]:
        """Train in float and write the model directory ``settings.out``."""

    def evaluate(self, settings: Any, load: Callable[[Path], tuple[Any, Any]] | None, say: Say) -> dict[str, Any]:
        """Evaluate ``settings.model_dir``; ``load`` gives its torch network (quantized or not)."""

    def profile(self, settings: Any, target: dict[str, Any], extra: dict[str, Any], say: Say) -> dict[str, Any]:
        """Per-layer latency per backend; ``extra``: what other stages provide (``onnxruntime``,
        ``load_torch``)."""


@runtime_checkable
class KernelStage(Protocol):
    """The Numba kernels of a family (``kernels/<f>/``; numpy and numba only).  ``conditions``
    are the family's (``snr_db``, ``noise`` for the MISO families; ``seed`` for DeepFP)."""

    def load(self, model_dir: Path) -> Any:
        """The model directory's parameters as the kernels take them."""

    def forward(self, model: Any, H: np.ndarray, **conditions: Any) -> dict[str, np.ndarray]:
        """Float kernel on channels ``H``: the design's arrays."""

    def forward_hw(self, model_dir: Path, H: np.ndarray, **conditions: Any) -> dict[str, Any]:
        """Bit-accurate hardware kernel of a quantized directory: codes, words and counters."""


@runtime_checkable
class QuantStage(Protocol):
    """Quantization of a family (``quant/<f>/``).  ``hardware_exact``: ``torch_forward_hw`` is a
    bit-exact torch model of the hardware kernel (the QAT network itself, as UPGA's, or a torch
    model of the datapath beside it, as JCEHB's and MSER's).  Optional: ``study_settings`` +
    ``study(settings, say)``, ``agreement(model_dir, H, seed)``, ``sweep`` (:class:`SweepHooks`),
    and with a ``precision`` field in ``quant_settings``, ``precision_template(config, model_dir,
    phase_bits) -> str`` (``hbf-edge precision template``: the file that field reads)."""

    quant_settings: type
    hardware_exact: bool

    def quantize(self, settings: Any, say: Say) -> dict[str, Any]:
        """Quantize ``settings.model_dir`` into ``settings.out``; returns the retention record."""

    def load(self, model_dir: Path) -> tuple[Any, Any]:
        """The torch module (quantized if the directory is) and the ModelConfig."""

    def torch_forward_hw(self, model_dir: Path, H: np.ndarray, **conditions: Any) -> dict[str, Any]:
        """The quantized torch network (or torch model of the datapath) on ``H``, with keys of the
        kernel stage's ``forward_hw``."""


@runtime_checkable
class SweepHooks(Protocol):
    """What ``hbf-edge sweep`` asks of a family: its quant stage's optional ``sweep`` attribute
    (``quant/<f>/sweep.py``).  A point is a dict with ``key``, ``stage``, ``snr_db``,
    ``phase_bits``, ``word_bits`` and ``precision`` (a precision file or None)."""

    stages: tuple[str, ...]
    datapath_stages: tuple[str, ...]  # the stages that run the integer datapath (and its tables)
    metric: str
    unit: str
    higher_is_better: bool

    def check(self, model_dir: Path, point: dict[str, Any]) -> None:
        """Refuse (``ConfigError``) a point this model cannot run, before any work."""

    def precision(self, model_dir: Path, point: dict[str, Any]) -> Any:
        """The point's :class:`~hbf_edge.hw.precision.PrecisionConfig`."""

    def chunk(self, model_dir: Path, H: np.ndarray, snr_db: float, points: list[dict[str, Any]],
              designs: dict[str, Path] | None = None) -> dict[str, Any]:
        """Per-channel metric of every point on channels ``H``: ``reference`` [B] (the float
        network), ``values`` (key -> [B]), ``seconds`` (key -> wall seconds) and, for an error
        rate, ``events`` (key -> error events); ``designs``: the QAT directory of each ``qat`` point."""

    def qat(self, quant: Any, model_dir: Path, out: Path, point: dict[str, Any], options: dict[str, Any]) -> Path:
        """Retrain ``model_dir`` for the point into ``out`` (``options``: quantize settings)."""


@runtime_checkable
class ExportStage(Protocol):
    """The bundle of a family (``export/<f>/``)."""

    export_settings: type

    def export(self, settings: Any, core: CoreStage, say: Say) -> Path:
        """Write the verified bundle of ``settings.model_dir``; ``core`` reads or draws channels."""

    def profile_backends(self) -> dict[str, Any]:
        """Profile backends this stage provides (e.g. ``onnxruntime``)."""
