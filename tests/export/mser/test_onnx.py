"""The MSER network's ONNX graph: its torch module in float64 equals the float kernel on a
network moved off its initial values (steps, offsets, widths); the exported float32 graph in
onnxruntime gives designs whose SER is the kernel's within 1 %, on a batch size other than the
traced one."""

from __future__ import annotations

import dataclasses

import numpy as np
import onnx
import pytest
import torch

from helpers import mser_model
from hbf_edge.export.mser.onnx_float import MserGraph, export_mser_onnx, run_mser_onnx
from hbf_edge.families.mser.gd import dft_alignment
from hbf_edge.families.mser.ser import ser_semi_analytic
from hbf_edge.families.mser.system import MserSizes, mser_channels
from hbf_edge.kernels.mser.forward import mser_forward

Z = MserSizes(n_tx=8, n_rf_tx=4, n_users=2, n_rx=4, n_rf_rx=2, n_streams=2)


def _inputs(H, start, sigma):
    F, V, U, W = start
    t = lambda x: torch.from_numpy(np.ascontiguousarray(x))  # noqa: E731
    return (t(H.real), t(H.imag), t(np.angle(F)), t(V.real), t(V.imag), t(np.angle(U)), t(W.real), t(W.imag),
            t(sigma))


@pytest.mark.parametrize("constellation", ["qpsk", "16qam"])
def test_the_graph_equals_the_float_kernel(constellation):
    model = mser_model(dataclasses.replace(Z, constellation=constellation), 3, 8)
    assert model.qam == (constellation == "16qam")
    H = mser_channels(3, Z, seed=2)
    sigma = np.array([0.1, 0.3, 0.05])
    start = dft_alignment(H, Z)
    want = mser_forward(H, start, sigma, model)
    with torch.no_grad():
        tf, vr, vi, tu, wr, wi = (x.numpy() for x in MserGraph(model)(*_inputs(H, start, sigma)))
    got = (np.exp(1j * tf), vr + 1j * vi, np.exp(1j * tu), wr + 1j * wi)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, atol=1e-10)


@pytest.mark.parametrize("constellation,sigma", [("qpsk", 0.5), ("16qam", 0.1)])
def test_onnxruntime_keeps_the_ser(constellation, sigma, tmp_path):
    from types import SimpleNamespace

    z = dataclasses.replace(Z, constellation=constellation)
    model = mser_model(z, 2, 8)
    path = export_mser_onnx(model, SimpleNamespace(family="mser"), tmp_path / "m.onnx")
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert meta["layers"] == "2" and meta["constellation"] == constellation
    H = mser_channels(5, z, seed=9)
    start = dft_alignment(H, z)
    ser_onnx = ser_semi_analytic(H, *run_mser_onnx(path, H, start, sigma), sigma, constellation).mean()
    ser_kernel = ser_semi_analytic(H, *mser_forward(H, start, sigma, model), sigma, constellation).mean()
    assert abs(ser_onnx / ser_kernel - 1) < 0.01


def test_the_layer_graphs_chained_are_the_whole_graph(tmp_path):
    """The profiler's per-layer graphs: layer by layer in float64 torch the whole graph's design
    to the last bit, and in onnxruntime to float32's precision."""
    from types import SimpleNamespace

    model = mser_model(Z, 2, 8)
    H = mser_channels(3, Z, seed=4)
    start = dft_alignment(H, Z)
    sigma = np.array([0.1, 0.3, 0.05])
    x = _inputs(H, start, sigma)
    with torch.no_grad():
        whole = MserGraph(model)(*x)
        y = MserGraph(model, (0, 1))(*x)
        y = MserGraph(model, (1, 2))(*x[:2], *y, x[-1])
    assert all(torch.equal(a, b) for a, b in zip(whole, y))
    paths = [export_mser_onnx(model, SimpleNamespace(family="mser"), tmp_path / f"l{i}.onnx", (i, i + 1))
             for i in range(2)]
    assert {p.key: p.value for p in onnx.load(str(paths[1])).metadata_props}["layers"] == "1..1"
    design = start
    for path in paths:
        design = run_mser_onnx(path, H, design, sigma)
    for a, b in zip(design, run_mser_onnx(export_mser_onnx(model, SimpleNamespace(family="mser"), tmp_path / "w.onnx"),
                                          H, start, sigma)):
        np.testing.assert_allclose(a, b, atol=1e-4)
