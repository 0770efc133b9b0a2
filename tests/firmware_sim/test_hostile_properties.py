"""Property-based hostile bundles: any JSON value at any manifest key, and any array in place of
any ``beams.npz`` member, re-hashed as a forger would: both verifiers either accept the bundle
or refuse it with their own error -- never another exception -- and an accepted bundle
simulates to finite figures."""

import hashlib
import json
import math
import shutil
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from hbf_edge import firmware_sim
from hbf_edge.export import BundleError, read_bundle

V1_BUNDLE = Path(__file__).resolve().parents[1] / "refs" / "v1" / "upga_bundle"
SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
JSON_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-(1 << 70), 1 << 70), st.floats(allow_nan=False),
                        st.text(max_size=6), st.lists(st.integers(-2, 300), max_size=4),
                        st.dictionaries(st.sampled_from(["sha256", "bytes", "N", "x"]), st.integers(-1, 64),
                                        max_size=3))
MANIFEST = json.loads((V1_BUNDLE / "manifest.json").read_text())
with np.load(V1_BUNDLE / "beams.npz") as _data:
    BEAMS = {k: _data[k] for k in _data.files}


def _paths(node, path=()):
    yield path
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*path, k))


def _rehash(path: Path, manifest: dict) -> None:
    files = manifest.get("files")
    if isinstance(files, dict):
        for name, meta in files.items():
            member = path / name if isinstance(name, str) and "/" not in name and name not in ("", ".", "..") else None
            if isinstance(meta, dict) and member is not None and member.is_file():
                meta.update(sha256=hashlib.sha256(member.read_bytes()).hexdigest(), bytes=member.stat().st_size)
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    manifest["manifest_sha256"] = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    (path / "manifest.json").write_text(json.dumps(manifest))


def _verdicts(path: Path) -> None:
    """Each verifier accepts or raises its own error; an accepted bundle simulates to finite figures."""
    for verify, error in ((read_bundle, BundleError), (firmware_sim.load_bundle, firmware_sim.SimulatorError)):
        try:
            verify(path)
        except error:
            pass
    try:
        report = firmware_sim.simulate(path)
    except firmware_sim.SimulatorError:
        return
    assert all(math.isfinite(v) for v in _floats(report))


def _floats(node):
    if isinstance(node, (list, tuple)):
        for v in node:
            yield from _floats(v)
    elif isinstance(node, dict):
        for v in node.values():
            yield from _floats(v)
    elif isinstance(node, np.ndarray) and node.dtype.kind in "fc":
        yield from (float(abs(v)) for v in node.ravel())
    elif isinstance(node, (float, np.floating)):
        yield float(node)
    elif hasattr(node, "__dict__"):
        yield from _floats(vars(node))


def _fresh(tmp_path: Path) -> Path:
    path = tmp_path / "b"
    shutil.rmtree(path, ignore_errors=True)
    shutil.copytree(V1_BUNDLE, path)
    return path


@SETTINGS
@given(where=st.sampled_from(sorted(set(_paths(MANIFEST)) - {()}, key=str)), value=JSON_VALUES)
def test_any_value_at_any_manifest_key(tmp_path, where, value):
    path = _fresh(tmp_path)
    manifest = json.loads(json.dumps(MANIFEST))
    node = manifest
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    _rehash(path, manifest)
    _verdicts(path)


ARRAYS = st.one_of(
    hnp.arrays(st.sampled_from([np.int32, np.int64, np.uint8, np.float64, np.complex128, np.bool_]),
               hnp.array_shapes(min_dims=0, max_dims=3, max_side=9)),
    st.builds(lambda k, v: np.full_like(BEAMS[k], v), st.sampled_from(sorted(BEAMS)),
              st.sampled_from([0, -1, 1, 7, 8, 2**31 - 1, -2**31])))


@SETTINGS
@given(member=st.sampled_from(sorted(BEAMS)), array=ARRAYS)
def test_any_array_for_any_beams_member(tmp_path, member, array):
    path = _fresh(tmp_path)
    with open(path / "beams.npz", "wb") as fh:
        np.savez(fh, **{**BEAMS, member: array})
    _rehash(path, json.loads(json.dumps(MANIFEST)))
    _verdicts(path)
