import json

import pytest

from hbf_edge import ConfigError, FixedPointFormat, HardwareSpec
from hbf_edge.hw.precision import PrecisionConfig

SPEC = HardwareSpec(16, 4, 4, phase_bits=None)

TOML = """
[default]
phase_bits = 3
precoder = { word_bits = 12, frac_bits = 10 }

[layers."0-2"]
phase_bits = 6

[layers."9"]
precoder = { word_bits = 16, frac_bits = 14, rounding = "half_even" }
"""


def test_toml_and_json_give_the_same_layer_specs(tmp_path):
    (tmp_path / "p.toml").write_text(TOML)
    cfg = PrecisionConfig.load(tmp_path / "p.toml", SPEC, 10)
    specs = cfg.layer_specs()
    assert [s.phase_bits for s in specs] == [6, 6, 6, 3, 3, 3, 3, 3, 3, 3]
    assert specs[9].precoder == FixedPointFormat(16, 14, "half_even") and specs[5].precoder == FixedPointFormat(12, 10)
    (tmp_path / "p.json").write_text(json.dumps(cfg.to_dict()))
    again = PrecisionConfig.load(tmp_path / "p.json", SPEC, 10)
    assert again.layer_specs() == specs and not again.uniform
    assert PrecisionConfig.from_dict(cfg.to_dict(), SPEC, 10).layer_specs() == specs  # as stored in a model dir


def test_uniform_config():
    cfg = PrecisionConfig.uniform_config(SPEC, 4, 5, FixedPointFormat(10, 8))
    assert cfg.uniform and all(s.phase_bits == 5 and s.precoder.word_bits == 10 for s in cfg.layer_specs())


@pytest.mark.parametrize("data,match", [
    ({"default": {"phase_bits": 0}}, "phase_bits"),
    ({"default": {"phase_bits": 17}}, "phase_bits"),
    ({"default": {"phase_bits": 3, "precoder": {"word_bits": 8, "frac_bits": 9}}}, "frac_bits"),
    ({"default": {"phase_bits": 3}, "layers": {"ten": {"phase_bits": 2}}}, "layer name"),
    ({"default": {"phase_bits": 3}, "layers": {"3-12": {"phase_bits": 2}}}, "outside"),
    ({"default": {"phase_bits": 3}, "layers": {"0-3": {"phase_bits": 2}, "2": {"phase_bits": 4}}}, "twice"),
    ({"default": {"phase_bits": 3}, "layers": {"1": {"gradient": {"word_bits": 8, "frac_bits": 4}}}}, "unknown key"),
    ({"default": {"phase_bits": 3}, "extra": {}}, "unknown section"),
    ({"default": {}}, "needs phase_bits"),
])
def test_bad_configs(data, match):
    with pytest.raises(ConfigError, match=match):
        PrecisionConfig.from_dict(data, SPEC, 10)


def test_bad_files(tmp_path):
    (tmp_path / "bad.toml").write_text("[default\nphase_bits = ")
    with pytest.raises(ConfigError, match="cannot parse"):
        PrecisionConfig.load(tmp_path / "bad.toml", SPEC, 10)
    (tmp_path / "p.yaml").write_text("x")
    with pytest.raises(ConfigError, match="toml or .json"):
        PrecisionConfig.load(tmp_path / "p.yaml", SPEC, 10)
    with pytest.raises(ConfigError, match="does not exist"):
        PrecisionConfig.load(tmp_path / "none.toml", SPEC, 10)
