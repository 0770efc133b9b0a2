"""Property-based hostile inputs: any JSON value at any key of a model directory's
``config.json``, and any token for a numeric option, gives exit 0 or one line and exit 2 --
never a traceback, never NaN in an output."""

import json
import math
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hbf_edge.cli import main

V1 = Path(__file__).resolve().parents[2] / "refs" / "v1"

# what a careless or hostile editor puts where a value belongs
JSON_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-(1 << 70), 1 << 70), st.sampled_from([0, -1, 1, 2, 10**9, 10**18]),
    st.floats(allow_nan=False, allow_infinity=False), st.sampled_from([0.0, -0.0, 1e-320, 1e308, 2.7]),
    st.text(max_size=8), st.lists(st.integers(-3, 3), max_size=3), st.dictionaries(st.text(max_size=3), st.none(),
                                                                                       max_size=2))
TOKENS = st.sampled_from(["nan", "inf", "-inf", "-1", "0", "1e308", "1e-320", "2.5", "abc", "", "1e8", "-0",
                          "99999999999999999999", "0x10"])


def _leaves(node, path=()):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(node, list) and node:
        yield from _leaves(node[0], (*path, 0))
    yield path


def _set(node, path, value):
    if not path:
        return value
    node[path[0]] = _set(node[path[0]], path[1:], value)
    return node


def _clean(capsys, code):
    out, err = capsys.readouterr()
    assert code in (0, 2), err
    if code == 2:
        assert len(err.strip().splitlines()) == 1 and err.startswith("hbf-edge: error:"), err
    return out


CONFIG = json.loads((V1 / "upga" / "config.json").read_text())
CONFIG_PATHS = sorted(set(_leaves(CONFIG)) - {()}, key=str)


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(path=st.sampled_from(CONFIG_PATHS), value=JSON_VALUES)
def test_any_value_at_any_config_key_gives_a_result_or_one_line(tmp_path, capsys, path, value):
    model = tmp_path / "m"
    shutil.rmtree(model, ignore_errors=True)
    shutil.copytree(V1 / "upga", model)
    config = _set(json.loads(json.dumps(CONFIG)), path, value)
    (model / "config.json").write_text(json.dumps(config))
    code = main(["evaluate", str(model), "--count", "2", "--snr", "0", "10", "-q"])
    _clean(capsys, code)
    if code == 0:
        results = json.loads((model / "eval" / "results.json").read_text(),
                             parse_constant=lambda c: pytest.fail(f"{c} in results.json"))
        assert all(math.isfinite(v) for v in _numbers(results))


def _numbers(node):
    if isinstance(node, dict):
        for v in node.values():
            yield from _numbers(v)
    elif isinstance(node, list):
        for v in node:
            yield from _numbers(v)
    elif isinstance(node, float):
        yield node


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    path = tmp_path_factory.mktemp("b") / "bundle"
    shutil.copytree(V1 / "upga_bundle", path)
    return path


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(option=st.sampled_from(["--chips-per-bus", "--beam-states", "--channels-per-chip", "--spi-mhz", "--snr",
                               "--phase-error-deg", "--seed"]), token=TOKENS)
def test_any_token_for_a_simulator_option_gives_a_result_or_one_line(bundle, tmp_path, capsys, option, token):
    out = tmp_path / "s"
    shutil.rmtree(out, ignore_errors=True)
    code = main(["simulate", str(bundle), "--out", str(out), option, token])
    _clean(capsys, code)
