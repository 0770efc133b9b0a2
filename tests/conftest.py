"""Shared test setup: the slow references ``tests/naive.py``, ``tests/naive_fixed.py``,
``tests/naive_fixed_upganet.py``, ``tests/naive_fixed_deepfp.py``, ``tests/naive_fixed_jcehb.py`` and ``tests/naive_fixed_mser.py`` become importable under their
file names, and so does ``tests/compile_log.py``, whose hooks (``--numba-compile-log=PATH``) are
this conftest's.

They are loaded by file rather than by putting ``tests/`` on ``sys.path``, where the test
folders ``tests/hbf_edge`` and ``tests/kernels`` would shadow the real packages.
"""

import importlib.util
import os
import pathlib
import sys

# Numba at optimisation level 1 in its own cache (before anything imports numba; the CLI
# processes the tests start inherit both): a cold suite spends most of its time compiling, and
# level 1 halves that (upga's batched float kernel: 23.2 s -> 12.2 s to compile, 39 -> 51 ms to
# run 2048 channels).  The integer kernels are exact at any level; the float kernels that let
# LLVM reassociate their sums (fastmath "reassoc": upga, deepfp) may round differently,
# well inside the tolerances their tests allow against torch and the references.  The separate cache keeps
# these slower binaries out of the source tree's __pycache__, which the toolkit's own runs use, and
# out of a NUMBA_CACHE_DIR the user set: Numba's cache index does not record the optimisation
# level, so level-1 binaries written there were loaded by the user's own runs later (measured
# 2026-12-03: the UPGA float forward at batch 1 took 30.9 us from such a cache against 23.5).
# The kernels' own cache stamp now records it (kernels/_core/jit.py), so a shared cache would
# recompile at every switch between the suite and the user's runs instead: still kept apart.
LOWERED_OPT = "NUMBA_OPT" not in os.environ
if LOWERED_OPT:
    os.environ["NUMBA_OPT"] = "1"
    _user_cache = os.environ.get("NUMBA_CACHE_DIR")
    os.environ["NUMBA_CACHE_DIR"] = (str(pathlib.Path(_user_cache) / "tests-opt1") if _user_cache else
                                     str(pathlib.Path(__file__).resolve().parents[1] / ".pytest_cache" / "numba"))
else:
    os.environ.setdefault("NUMBA_CACHE_DIR", str(pathlib.Path(__file__).resolve().parents[1] / ".pytest_cache" / "numba"))

# The ONNX graph cache (export._core.graph_cache) of this run only, shared by its workers (they
# inherit the controller's environment) and removed at the end: a user's cache never feeds the
# tests, and no test sees graphs stored by an earlier run of other code.  HBF_EDGE_GRAPH_CACHE=off
# is kept: the suite then traces every graph (what it cost before the cache).
if "PYTEST_XDIST_WORKER" not in os.environ and os.environ.get("HBF_EDGE_GRAPH_CACHE", "").lower() != "off":
    import tempfile
    import uuid

    GRAPH_CACHE = pathlib.Path(tempfile.gettempdir()) / f"hbf-edge-test-graphs-{uuid.uuid4().hex[:12]}"
    os.environ["HBF_EDGE_GRAPH_CACHE"] = str(GRAPH_CACHE)

    def pytest_unconfigure(config):
        import shutil

        shutil.rmtree(GRAPH_CACHE, ignore_errors=True)

for _name in ("naive", "naive_fixed", "naive_fixed_upganet", "naive_fixed_deepfp", "naive_fixed_jcehb",
              "naive_fixed_mser", "compile_log"):
    _spec = importlib.util.spec_from_file_location(_name, pathlib.Path(__file__).with_name(f"{_name}.py"))
    _module = importlib.util.module_from_spec(_spec)
    sys.modules[_name] = _module
    _spec.loader.exec_module(_module)

# --numba-compile-log=PATH (tests/compile_log.py): its hooks, as this conftest's
pytest_addoption = sys.modules["compile_log"].pytest_addoption
pytest_configure = sys.modules["compile_log"].pytest_configure
pytest_terminal_summary = sys.modules["compile_log"].pytest_terminal_summary


def quantized_model_dir(root, n_antennas, n_layers, precision, mu0=0.05, lambda0=2e-3, xi=None, search=None,
                        name="q"):
    """A float UPGA model dir ``root/float`` and its PTQ-quantized dir ``root/<name>`` (M=K=4, J=1).

    ``precision`` is a precision-config dict (``[default]`` and ``[layers]``).  Returns the
    :class:`PrecisionConfig` and the :class:`QuantUPGA` (with the output stage for ``xi``, and
    the code search ``search = {"sweeps", "span"}`` in the directory).
    """
    from hbf_edge import HardwareSpec
    from hbf_edge.modeldir import ModelConfig, save_model
    from hbf_edge.families.upga.model import UPGA
    from hbf_edge.quant import PrecisionConfig, QuantUPGA, quantized_config, save_quantized

    spec = HardwareSpec(n_antennas, 4, 4, None)
    model = UPGA(n_layers, 1, 4, mu0=mu0, lambda0=lambda0)
    fcfg = ModelConfig("upga", spec, n_layers, 1, training={"n_paths": 10})
    save_model(model, fcfg, root / "float", overwrite=True)
    config = PrecisionConfig.from_dict(precision, spec, n_layers)
    q = QuantUPGA(config.layer_specs(), 1, model.mu.detach(), model.lam.detach(), xi=xi)
    qcfg = quantized_config(fcfg, config, "ptq", {}, [])
    if search is not None:
        qcfg.quantization["code_search"] = dict(search)
    save_quantized(q, qcfg, root / name)
    return config, q


def off_by_one_quant_onnx(monkeypatch):
    """Make the quantized graph's runner (``export.upga.onnx_run.run_quant_onnx``) return its
    first code plus one (mod 8): an export must refuse the graph as disagreeing with the kernel."""
    from hbf_edge.export.upga import onnx_run

    real = onnx_run.run_quant_onnx

    def off_by_one_code(*args):
        codes, w_re, w_im = real(*args)
        codes[0, 0, 0] = (codes[0, 0, 0] + 1) % 8
        return codes, w_re, w_im

    monkeypatch.setattr(onnx_run, "run_quant_onnx", off_by_one_code)


def require_toolchain(tc):
    """Skip unless the C toolchain ``tc`` is installed; with ``HBF_EDGE_REQUIRE_ARM=1`` (.ci/run)
    a missing one fails instead."""
    import os

    import pytest

    if not tc.available():
        if os.environ.get("HBF_EDGE_REQUIRE_ARM") == "1":
            pytest.fail(f"HBF_EDGE_REQUIRE_ARM=1 but {', '.join(tc.missing())} missing")
        pytest.skip(f"{tc.name} toolchain not installed ({', '.join(tc.missing())})")


def mser_model(sizes, layers, samples, moved=True, torch_net=False):
    """The kernel packing of a network with per-entry steps and offsets, moved off its initial
    values (``moved``), from a directory's arrays as ``save_model`` writes them (and the torch
    network, with ``torch_net``)."""
    import torch

    from hbf_edge.families.mser.gd import GdSteps
    from hbf_edge.families.mser.model import MserNet
    from hbf_edge.kernels.mser.forward import pack_mser

    steps = GdSteps(3e-4, 3e-3, 1e-2, 0.1, 1.0, 15.0)
    net = MserNet(sizes, layers, steps, samples, seed=3, step_shape="matrix", offsets=True)
    gen = torch.Generator().manual_seed(1)
    if moved:
        with torch.no_grad():
            for name, p in net.named_parameters():
                p.add_((0.05 if name.startswith("o_") else 0.2) * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    arrays = {k: v.detach().numpy() for k, v in net.state_dict().items()}
    packed = pack_mser(arrays, mser_section(sizes, net), layers)
    return (net, packed) if torch_net else packed


def mser_section(sizes, net):
    """The ``family_config`` of :func:`mser_model`'s network (per-entry steps with offsets)."""
    keys = ("n_tx", "n_rf_tx", "n_users", "n_rx", "n_rf_rx", "n_streams", "constellation")
    st = net.steps
    return {"sizes": {k: getattr(sizes, k) for k in keys}, "samples": int(net.symbols.shape[2]), "offsets": True,
            "steps": {"mu_p": st.mu_p, "mu_w": st.mu_w, "mu_theta_u": st.mu_theta_u, "mu_theta_f": st.mu_theta_f,
                      "kappa": st.kappa, "snr_ref_db": st.snr_ref_db}}


# JCEHB's tiny quantized network (the kernel and export tests share it); numpy-only imports, after
# the Numba settings above
from hbf_edge.families.jcehb.formats import JcehbFormats  # noqa: E402
from hbf_edge.families.jcehb.system import JcehbSizes  # noqa: E402
from hbf_edge.hw.spec import FixedPointFormat  # noqa: E402

JCEHB_Z = JcehbSizes(n_tx=8, n_rf_tx=4, n_rx=4, n_rf_rx=2, n_users=2, n_streams=2)


def jcehb_quantized_dir(path, inverse, bits=6, formats=None):
    """A network moved off its initial values, its phases on ``bits``-bit codes, saved as a
    quantized model directory."""
    import numpy as np
    import torch

    from hbf_edge.families.jcehb.model import JcehbNet
    from hbf_edge.hw.spec import HardwareSpec
    from hbf_edge.modeldir import save_model
    from hbf_edge.modelfiles import ModelConfig

    net = JcehbNet(JCEHB_Z, 5, 3, "per-chain", inverse)
    gen = torch.Generator().manual_seed(1)
    step = 2 * np.pi / 2**bits
    with torch.no_grad():
        for name, p in net.named_parameters():
            p.add_((0.3 if name.startswith("phi") else 0.05) * torch.randn(p.shape, generator=gen, dtype=p.dtype))
            if name.startswith("phi"):
                p.copy_(torch.remainder(torch.round(p / step), 2**bits) * step)
    section = {"sizes": {k: getattr(JCEHB_Z, k) for k in ("n_tx", "n_rf_tx", "n_rx", "n_rf_rx", "n_users", "n_streams")},
               "pilots": 5, "hb_layers": 3, "pilot_power": "per-chain", "inverse": inverse, "design": "joint",
               "snr_db": 10.0, "ssca": {}}
    quantization = {"method": "ptq", "phase_bits": bits}
    if formats is not None:
        quantization["formats"] = formats.to_dict()
    config = ModelConfig("jcehb", HardwareSpec(n_antennas=8, n_rf=4, n_users=2, phase_bits=bits), 8, 1,
                         family_config=section, quantization=quantization)
    save_model(net, config, path)
    return path


JCEHB_NARROW = JcehbFormats(accumulator=FixedPointFormat(11, 10), heq=FixedPointFormat(6, 5),
                      precoder=FixedPointFormat(6, 5), combiner=FixedPointFormat(6, 5, "half_even", False),
                      received=FixedPointFormat(8, 6))


JCEHB_WRAP = JcehbFormats(accumulator=FixedPointFormat(14, 10, "half_even", False), heq=FixedPointFormat(8, 5, "floor"),
                          precoder=FixedPointFormat(6, 5, "floor", False),
                          combiner=FixedPointFormat(6, 5, "half_even", False), coef=FixedPointFormat(10, 7, "floor"),
                          received=FixedPointFormat(8, 6, "half_even", False))


def jcehb_hw_slots(path, inverse, formats, B=7, nu=0.1, seed=5):
    """The tiny quantized network in ``path`` packed for the hardware mode, the integer kernel's
    result on ``B`` slots at noise ``nu``, and the noise word."""
    import numpy as np

    from hbf_edge.families.jcehb.config import pilot_noise_seeded
    from hbf_edge.families.jcehb.system import jcehb_channels
    from hbf_edge.kernels.jcehb.hardware import jcehb_forward_hw, load_jcehb_hw

    hw = load_jcehb_hw(jcehb_quantized_dir(path / "q", inverse, formats=formats))
    H = jcehb_channels(B, JCEHB_Z, seed=seed)
    got = jcehb_forward_hw(hw, H, pilot_noise_seeded(B, JCEHB_Z.n_users, JCEHB_Z.n_rx, 5, seed + 4), nu)
    return hw, got, int(hw.formats.accumulator.quantize(np.array([nu]))[0][0])


def _mser_formats():
    from hbf_edge.families.mser.formats import MserFormats

    narrow = MserFormats(accumulator=FixedPointFormat(16, 9), lut=FixedPointFormat(10, 8),
                         precoder=FixedPointFormat(8, 7), combiner=FixedPointFormat(7, 5, "half_even", False),
                         channel=FixedPointFormat(9, 4), kernel=FixedPointFormat(8, 6, "floor"),
                         step=FixedPointFormat(24, 18), angle_bits=10, internal_phase_bits=6)
    wrap = MserFormats(accumulator=FixedPointFormat(12, 6, "half_even", False), lut=FixedPointFormat(10, 6),
                       precoder=FixedPointFormat(4, 3, "floor", False), combiner=FixedPointFormat(4, 2, "half_even", False),
                       channel=FixedPointFormat(9, 4), kernel=FixedPointFormat(8, 6, "floor"),
                       step=FixedPointFormat(24, 18), angle_bits=10, internal_phase_bits=6)
    return narrow, wrap


# MSER's tiny sizes and two narrow format sets (saturating; a wrapping accumulator)
MSER_NARROW, MSER_WRAP = _mser_formats()


def _mser_tiny():
    from hbf_edge.families.mser.system import MserSizes

    return MserSizes(n_tx=8, n_rf_tx=4, n_users=2, n_rx=4, n_rf_rx=2, n_streams=1)


MSER_TINY = _mser_tiny()


def mser_hw_session(sizes, formats, q_bs, q_ue, refit, B=4, seed=5):
    """A moved network packed for the hardware mode and its integer session, run on ``B`` channels
    from the DFT alignment at noise stds 0.05 .. 0.3."""
    import numpy as np

    from hbf_edge.families.mser.gd import dft_alignment
    from hbf_edge.families.mser.system import mser_channels
    from hbf_edge.kernels.mser.hardware import MserHwSession, pack_hw

    hw = pack_hw(mser_model(sizes, 2, 6), formats, q_bs, q_ue, refit)
    H = mser_channels(B, sizes, seed=seed)
    session = MserHwSession(hw, H, dft_alignment(H, sizes), np.linspace(0.05, 0.3, B))
    session.run()
    return hw, session


def rehash_bundle(path, edit=None):
    """What a forger without the key can do to a bundle: change the manifest (``edit``), recompute
    every member's hash and the manifest's own."""
    import hashlib
    import json

    manifest = json.loads((path / "manifest.json").read_text())
    for name, meta in manifest["files"].items():  # the members as they are now
        meta.update(sha256=hashlib.sha256((path / name).read_bytes()).hexdigest(), bytes=(path / name).stat().st_size)
    if edit is not None:
        edit(manifest)
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    manifest["manifest_sha256"] = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    (path / "manifest.json").write_text(json.dumps(manifest))


sys.modules["helpers"] = sys.modules[__name__]


import pytest  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _bundles_in_one_process():
    """A bundle written inside a test process builds every part there: on two cores the
    toolkit gives its longest graph to a second process (``export._core.side``), which pays its
    own imports, and the suite's two workers keep both cores busy already.  The tests of the
    second process set it themselves; the CLI commands the tests start run with the toolkit's
    default."""
    from hbf_edge import _process

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_process, "side_cores", lambda: 1)
        yield
