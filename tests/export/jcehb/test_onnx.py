"""JCEHB's per-slot ONNX graph: its real-arithmetic module equals the torch network in float64
(both inverses, the superframe's CEDUN gains included), and the exported float32 graph in
onnxruntime agrees with it to float32 rounding, batch size free, with its metadata."""

from __future__ import annotations

import types

import numpy as np
import onnx
import pytest
import torch

from hbf_edge.export.jcehb.onnx_float import JcehbSlot, export_jcehb_onnx, run_jcehb_onnx
from hbf_edge.families.jcehb.model import JcehbNet, sum_rate
from hbf_edge.families.jcehb.system import JcehbSizes, jcehb_channels, pilot_noise

Z = JcehbSizes(n_tx=8, n_rf_tx=4, n_rx=4, n_rf_rx=2, n_users=2, n_streams=2)
NU = 0.1


def _slots(inverse: str, count: int = 6):
    """A network moved off its initial values (so that every trained constant matters) and the
    received pilots of ``count`` slots."""
    net = JcehbNet(Z, 5, 3, "per-chain", inverse)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
        He = net.equivalent(torch.from_numpy(jcehb_channels(count, Z, seed=3)))
        Y = net.observe(He, torch.from_numpy(pilot_noise(count, Z, 5, 4)), NU)
    return net, He, Y


@pytest.mark.parametrize("inverse", ["exact", "paper"])
def test_the_slot_module_equals_the_torch_network(inverse):
    net, _, Y = _slots(inverse)
    with torch.no_grad():
        H_hat = net.estimate(Y)
        F, W = net.digital(H_hat, NU)
        slot = JcehbSlot(net)
        got = slot(Y.real.contiguous(), Y.imag.contiguous(), torch.full((Y.shape[0],), NU, dtype=torch.float64))
    assert F.abs().max() > 0.1 and W.abs().max() > 0.1
    np.testing.assert_allclose(torch.complex(got[0], got[1]).numpy(), F.numpy(), atol=1e-10)
    np.testing.assert_allclose(torch.complex(got[2], got[3]).numpy(), W.numpy(), atol=1e-10)


def test_the_exported_graph_in_onnxruntime(tmp_path):
    net, He, Y = _slots("paper", count=9)
    config = types.SimpleNamespace(family="jcehb", spec=types.SimpleNamespace(phase_bits=5))
    path = export_jcehb_onnx(net, config, tmp_path / "model.onnx")
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert meta["pilots"] == "5" and meta["hb_layers"] == "3" and meta["inverse"] == "paper" and meta["phase_bits"] == "5"
    F, W = run_jcehb_onnx(path, Y.numpy(), NU)  # 9 slots: not the traced batch of 2
    with torch.no_grad():
        F0, W0 = net.digital(net.estimate(Y), NU)
        W_rf = net.analog()[1]
        rate = sum_rate(He, torch.from_numpy(F), torch.from_numpy(W), W_rf, NU)
        rate0 = sum_rate(He, F0, W0, W_rf, NU)
    np.testing.assert_allclose(F, F0.numpy(), atol=1e-4)
    np.testing.assert_allclose(rate.numpy(), rate0.numpy(), rtol=1e-4)
    names = {n.name.split("/")[1] for n in onnx.load(str(path)).graph.node if n.name.startswith("/")}
    assert {"cedun", "hbdun"} <= names  # the profiler attributes node times by these scopes
