"""Settings every family's commands share (numpy only).

A family's settings dataclass for a command derives from the base here and adds its own fields
(defaults: the paper's).  The CLI turns the fields into options (:mod:`hbf_edge.cli._options`);
Python users build the dataclass directly.  Every base is keyword-only, so a family may add
fields in any order.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from hbf_edge.errors import ConfigError
from hbf_edge.families._protocol import field

__all__ = ["DEFAULT_TEST_SEED", "Settings", "ChannelCommon", "TrainCommon", "EvalCommon", "QuantCommon", "ExportCommon",
           "ProfileCommon", "StudyCommon", "check_positive"]

# held-out channels differ from the training ones (seed 0) by default
DEFAULT_TEST_SEED = 2026


def shared_precision_field(names: tuple[str, ...]) -> Path | None:
    """The ``quantize --precision`` option of a datapath whose formats ``names`` are shared by
    every layer (:func:`hbf_edge.hw.precision.shared_formats`)."""
    return field(None, "precision file (.toml/.json; `hbf-edge precision template` writes one): any of the datapath's "
                       f"formats ({', '.join(names)}) with their word and fraction bits, rounding and saturation; the "
                       "formats it does not name follow --word-bits and --accumulator-bits")


def check_positive(settings: object, *names: str) -> None:
    """Refuse (ConfigError naming the option) any of ``names`` that is set and < 1."""
    for name in names:
        value = getattr(settings, name)
        values = value if isinstance(value, (list, tuple)) else [value]
        if any(v is not None and v < 1 for v in values):
            raise ConfigError(f"--{name.replace('_', '-')} must be >= 1, got {value}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    """Base of every settings dataclass: required fields are checked, ``str`` paths become
    :class:`~pathlib.Path`, then :meth:`validate` runs (override it, calling ``super()``)."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None and (f.metadata.get("required") or f.metadata.get("positional")):
                raise ConfigError(f"{f.name.replace('_', '-')} is required")
            if isinstance(value, str) and "Path" in str(f.type):
                object.__setattr__(self, f.name, Path(value))
        self.validate()

    def validate(self) -> None:
        """Checks across fields; raise :class:`ConfigError` with the option's name."""

    def check_given(self, given: frozenset[str]) -> None:
        """Checks on the fields a command line named (``given``; the CLI calls it after
        construction): an option typed at its default value was still given."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class ChannelCommon(Settings):
    """``hbf-edge channels FAMILY``: a seeded channel dataset."""

    out: Path = field(None, "folder for channels.npz (created if needed)", required=True)
    overwrite: bool = field(False, "replace an existing file")
    count: int = field(1000, "number of channels (default 1000)")
    seed: int = field(DEFAULT_TEST_SEED, f"random seed (default {DEFAULT_TEST_SEED})")

    def validate(self) -> None:
        check_positive(self, "count")
        path = self.out if self.out.suffix == ".npz" else Path(f"{self.out}.npz")
        if path.exists() and not self.overwrite:
            raise ConfigError(f"{path} already exists (pass --overwrite to replace it)")


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainCommon(Settings):
    """``hbf-edge train FAMILY``: float training into a new model directory."""

    out: Path = field(None, "model directory to create", required=True)
    overwrite: bool = field(False, "replace an existing model directory")
    channels: Path | None = field(None, "training channels: a dataset from `hbf-edge channels` or a plain "
                                        ".npy/.npz/.mat array H (default: fresh channels drawn with --seed)")
    seed: int = field(0, "seed of channels, SNR draws and shuffling (default 0)")
    precision: str = field("float64", "arithmetic precision (default float64)", choices=["float64", "float32"])
    quiet: bool = field(False, "no progress bars", flag="-q")


@dataclasses.dataclass(frozen=True, kw_only=True)
class EvalCommon(Settings):
    """``hbf-edge evaluate MODEL_DIR``."""

    model_dir: Path = field(None, "model directory", positional=True)
    out: Path | None = field(None, "directory for results.json and plots (default MODEL_DIR/eval)")
    channels: Path | None = field(None, "held-out channels: a dataset or a plain .npy/.npz/.mat array H "
                                        "(default: --count fresh ones)")
    count: int = field(1000, "held-out channels to draw (default 1000)", old="--test-size")
    seed: int = field(DEFAULT_TEST_SEED, f"seed of the held-out channels (default {DEFAULT_TEST_SEED})",
                      old="--test-seed")
    quiet: bool = field(False, "no progress bars", flag="-q")
    json: bool = field(False, "print the result as JSON instead of the tables")

    def validate(self) -> None:
        check_positive(self, "count")


@dataclasses.dataclass(frozen=True, kw_only=True)
class QuantCommon(Settings):
    """``hbf-edge quantize MODEL_DIR --out DIR``."""

    model_dir: Path = field(None, "float model directory from `hbf-edge train`", positional=True)
    out: Path = field(None, "quantized model directory to create", required=True)
    overwrite: bool = field(False, "replace an existing output directory")
    method: str = field("qat", "qat: quantization-aware retraining (default); ptq: keep the float parameters",
                        choices=["qat", "ptq"])
    channels: Path | None = field(None, "QAT training channels: a dataset or a plain .npy/.npz/.mat array H "
                                        "(default: fresh ones drawn with --seed)", qat_only=True)
    test_channels: Path | None = field(None, "held-out channels of the retention table, same formats (default: "
                                             "--count fresh ones drawn with --test-seed)")
    epochs: int = field(5, "QAT epochs (default 5)", qat_only=True)
    seed: int = field(1, "seed of the QAT channels and SNR draws (default 1)", qat_only=True)
    count: int = field(1000, "held-out channels of the retention table (default 1000)", old="--test-size")
    test_seed: int = field(DEFAULT_TEST_SEED, f"their seed (default {DEFAULT_TEST_SEED})")
    quiet: bool = field(False, "no progress bars", flag="-q")
    json: bool = field(False, "print the retention result as JSON instead of the tables")

    def validate(self) -> None:
        check_positive(self, "count")
        if self.method == "qat" and self.epochs < 1:  # 0 would record QAT and retrain nothing
            raise ConfigError(f"--epochs must be >= 1 for QAT, got {self.epochs} (--method ptq retrains nothing)")
        if self.method == "ptq":
            _refuse_qat_options(self, frozenset())

    def check_given(self, given: frozenset[str]) -> None:
        if self.method == "ptq":
            _refuse_qat_options(self, given)


def _refuse_qat_options(s: QuantCommon, given: frozenset[str]) -> None:
    """PTQ trains nothing: a field marked ``qat_only`` that the command line named (``given``) or
    that is set to anything but its default would be accepted and ignored, so it is refused (one
    line naming every such option)."""
    def default(f: dataclasses.Field) -> object:
        return f.default_factory() if f.default is dataclasses.MISSING else f.default  # type: ignore[misc]

    refused = [f.name for f in dataclasses.fields(s)
               if f.metadata.get("qat_only") and (f.name in given or getattr(s, f.name) != default(f))]
    if refused:
        names = ", ".join(f"--{n.replace('_', '-')}" for n in refused)
        verb = "applies" if len(refused) == 1 else "apply"
        hint = " (held-out channels: --test-channels)" if "channels" in refused else ""
        raise ConfigError(f"{names} only {verb} to QAT; --method ptq trains nothing{hint}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class ExportCommon(Settings):
    """``hbf-edge export MODEL_DIR --out BUNDLE``."""

    model_dir: Path = field(None, "quantized model directory from `hbf-edge quantize`", positional=True)
    out: Path = field(None, "bundle directory to create", required=True)
    overwrite: bool = field(False, "replace an existing bundle")
    channels: Path | None = field(None, "channels of beams.npz: a dataset or a plain .npy/.npz/.mat array H "
                                        "(default: --count fresh ones)")
    count: int = field(100, "channels to draw when --channels is not given (default 100)")
    seed: int = field(DEFAULT_TEST_SEED, f"their seed (default {DEFAULT_TEST_SEED})")
    sign: Path | None = field(None, "sign the manifest with this key file (`hbf-edge keygen`): HMAC-SHA256, so "
                                    "`simulate --verify-key` refuses a bundle edited without the key", metavar="KEY")

    def validate(self) -> None:
        check_positive(self, "count")
        if self.out.exists() and not self.overwrite:  # before the designs and graphs, not after them
            raise ConfigError(f"{self.out} already exists (pass --overwrite to replace it)")


@dataclasses.dataclass(frozen=True, kw_only=True)
class ProfileCommon(Settings):
    """``hbf-edge profile MODEL_DIR``."""

    model_dir: Path = field(None, "model directory (float or quantized)", positional=True)
    backends: list[str] | None = field(None, "backends to time (default: all the family has)", nargs="+")
    batches: list[int] | None = field(None, "batch sizes (default: the family's)", nargs="+")
    repeat: int = field(5, "timed runs per figure (default 5)")
    target: str = field("dsp", "target file (.toml) or an example name: dsp, mcu (default dsp)")
    json: bool = field(False, "print the result as JSON instead of the tables")
    out: Path | None = field(None, "directory for profile.json and profile.png (default MODEL_DIR/profile)")
    quiet: bool = field(False, "no progress bars", flag="-q")

    def validate(self) -> None:
        check_positive(self, "repeat", "batches")


@dataclasses.dataclass(frozen=True, kw_only=True)
class NumericalProfile(ProfileCommon):
    """``hbf-edge profile`` of a family with an integer datapath: latency, or with
    ``--numerical`` the numerical range profile and the precision advisor of a quantized model
    (the options of one mode are refused in the other)."""

    repeat: int | None = field(None, "timed runs per figure (default 5)")
    target: str | None = field(None, "target file (.toml) or an example name: dsp, mcu (default dsp)")
    numerical: bool = field(False, "instead of latency: the value range of the datapath's sites against their "
                                   "formats, the overflow counts, hardware vs float network sum rate, and the "
                                   "precision advisor (a quantized model); writes numerical.json, numerical.png, "
                                   "advised_precision.toml")
    count: int | None = field(None, "--numerical: channels (default: UPGA 500, JCEHB 2000 slots)")
    snr: list[float] | None = field(None, "--numerical: SNRs in dB; the advisor keeps its target at each (default: "
                                           "UPGA 10, JCEHB the model's; UPGA takes one)", nargs="+")
    seed: int | None = field(None, "--numerical: channel seed; the advisor verifies on seed + 1 (default 0)")
    retention_target: float | None = field(None, "--numerical: the advisor keeps hardware / float network sum rate "
                                                  ">= this (default 0.99; 0 turns the advisor off)")

    def validate(self) -> None:
        super().validate()
        latency = {"backends": self.backends, "batches": self.batches, "repeat": self.repeat, "target": self.target}
        numerical = {"count": self.count, "snr": self.snr, "seed": self.seed, "retention_target": self.retention_target}
        given = [k for k, v in (latency if self.numerical else numerical).items() if v is not None]
        if given:
            opts = ", ".join("--" + k.replace("_", "-") for k in given)
            raise ConfigError(f"{opts} {'do' if len(given) > 1 else 'does'} not apply "
                              f"{'to --numerical' if self.numerical else 'without --numerical'}")
        check_positive(self, "count")
        if self.retention_target is not None and not 0 <= self.retention_target <= 1.5:
            raise ConfigError(f"--retention-target must be in 0..1.5, got {self.retention_target}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class StudyCommon(Settings):
    """``hbf-edge study quantization MODEL_DIR --out DIR``."""

    model_dir: Path = field(None, "float model directory", positional=True)
    out: Path = field(None, "output directory", required=True)
    quiet: bool = field(False, "no progress bars", flag="-q")
