"""``quantize --method ptq`` trains nothing: every option only QAT uses is refused when it is set,
in every built-in family, so no option is accepted and ignored."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import pytest

from hbf_edge.errors import ConfigError
from hbf_edge.quant import REGISTRY as QUANT

FAMILIES = QUANT.builtin_names()


def _qat_fields(family):
    cls = QUANT.get(family).quant_settings
    return cls, [f for f in dataclasses.fields(cls) if f.metadata.get("qat_only")]


def _changed(cls, f):
    """A value of the field's kind that is not its default."""
    default = f.default_factory() if f.default is dataclasses.MISSING else f.default
    if "choices" in f.metadata:
        return next(c for c in f.metadata["choices"] if c != default)
    kind = typing.get_type_hints(cls)[f.name]
    if "Path" in str(kind):
        return Path("channels.npz")
    if default is None:  # an optional number (the SNR range)
        return 12.0
    return default + 1 if isinstance(default, int) else default * 2


@pytest.mark.parametrize("family", FAMILIES)
def test_every_qat_option_is_refused_with_ptq_and_kept_with_qat(family, tmp_path):
    cls, fields = _qat_fields(family)
    names = {f.name for f in fields}
    assert {"epochs"} <= names and "count" not in names and "test_channels" not in names
    base = {"model_dir": tmp_path / "m", "out": tmp_path / "q"}
    cls(**base, method="ptq")  # the defaults pass
    for f in fields:
        value = _changed(cls, f)
        with pytest.raises(ConfigError, match=f"--{f.name.replace('_', '-')} only applies to QAT"):
            cls(**base, method="ptq", **{f.name: value})
        assert getattr(cls(**base, method="qat", **{f.name: value}), f.name) == value


def test_deepfp_ptq_calibrates_on_its_training_networks():
    """DeepFP's PTQ calibrates the DNNs' activation ranges on the training networks: those
    options are not QAT's alone."""
    _, fields = _qat_fields("deepfp")
    assert not {"channels", "seed", "train_size"} & {f.name for f in fields}


def test_qat_with_no_epochs_is_refused(tmp_path):
    """``--epochs 0`` would record QAT and retrain nothing: PTQ is the method for that."""
    with pytest.raises(ConfigError, match="--epochs must be >= 1 for QAT, got 0"):
        QUANT.get("upga").quant_settings(model_dir=tmp_path / "m", out=tmp_path / "q", epochs=0)
