"""DeepFP kernels: the float kernel against the torch network, the hardware mode against the
integer reference (tests/naive_fixed_deepfp.py), Brevitas and the QAT model."""

import numpy as np
import pytest
import torch

from hbf_edge.families.deepfp.model import DeepFP, to_c
from hbf_edge.families.deepfp.train import deepfp_model_config
from hbf_edge.errors import ConfigError, DTypeError, InvalidChannelError, ShapeError
from hbf_edge.families.deepfp.network import NetworkConfig, generate_channels
from hbf_edge.families.deepfp.wsr import random_init, weighted_sum_rate
from hbf_edge.kernels.deepfp.forward import DeepfpModel, deepfp_forward, load_deepfp
from hbf_edge.kernels.deepfp.hardware import deepfp_forward_hw, dnn_codes, int_dnn
from hbf_edge.quant.deepfp.qat import load_deepfp as load_quant_deepfp
from hbf_edge.quant.deepfp.qat import quantize_deepfp, save_quant_deepfp
import naive_fixed_deepfp as ref

SEVEN = NetworkConfig(n_cells=7, n_users=2, n_tx=8, n_rx=2, n_streams=2)
SINGLE = NetworkConfig(n_cells=1, n_users=3, n_tx=6, n_rx=2, n_streams=1)


def _parts(z):
    return np.ascontiguousarray(z.real), np.ascontiguousarray(z.imag)


def _model(n_hidden=2, seed=2, n_tx=8, n_streams=2, layers=4, gain=3.0, step_base="frobenius"):
    m = DeepFP(layers, n_tx, n_streams, hidden=16, n_hidden=n_hidden, seed=seed, step_base=step_base).double()
    with torch.no_grad():  # larger weights: steps far from FastFP's, so a wrong DNN shows
        for p in m.parameters():
            p.mul_(gain)
    return m


def _kernel_model(m):
    arrays = {k: v.detach().numpy() for k, v in m.state_dict().items()}
    return DeepfpModel(m.n_layers, m.n_tx, m.n_streams, m.hidden, m.n_hidden, arrays, step_base=m.step_base)


@pytest.mark.parametrize("net,n_hidden,base", [(SEVEN, 2, "frobenius"), (SINGLE, 1, "frobenius"), (SEVEN, 3, "exact"),
                                               (SINGLE, 2, "exact")])
def test_float_kernel_equals_the_torch_network(net, n_hidden, base):
    """Seven cells, and a single cell padded to the network's N_t = 8 and d = 2 (Section IV-E);
    both base steps."""
    H = generate_channels(net, 4, seed=1)
    V0 = random_init((4, net.n_cells, net.n_users, net.n_tx, net.n_streams), np.ones(net.n_cells), 3)
    m = _model(n_hidden, step_base=base)
    with torch.no_grad():
        V, _ = m(to_c(H), to_c(V0))
    vr, vi, steps = deepfp_forward(*_parts(H), *_parts(V0), _kernel_model(m))
    Vt = V.re.numpy() + 1j * V.im.numpy()
    assert np.abs(vr + 1j * vi - Vt).max() < 1e-12
    assert steps.shape == (4, 4, net.n_cells, net.n_users) and np.all(steps > 0)
    with torch.no_grad():  # the steps equal the network's layer by layer
        Hp, Vp, _, _ = m.pad(to_c(H), to_c(V0))
        _, s0 = m.layer(0, Hp, Vp)
    assert np.allclose(steps[:, 0], s0.numpy(), rtol=1e-12)


def test_layer_ranges_compose_and_inputs_are_untouched():
    H = generate_channels(SEVEN, 2, seed=4)
    V0 = random_init((2, 7, 2, 8, 2), np.ones(7), 5)
    km = _kernel_model(_model())
    hr, hi = _parts(H)
    v0r, v0i = _parts(V0)
    keep = v0r.copy()
    full = deepfp_forward(hr, hi, v0r, v0i, km)
    a = deepfp_forward(hr, hi, v0r, v0i, km, layers=(0, 2))
    b = deepfp_forward(hr, hi, a[0], a[1], km, layers=(2, 4))
    assert np.array_equal(v0r, keep)
    assert np.abs(b[0] - full[0]).max() == 0 and np.abs(b[1] - full[1]).max() == 0
    assert np.array_equal(full[2][:, 2:], b[2][:, 2:]) and np.all(a[2][:, 2:] == 0)


def test_float_kernel_rejects_bad_input():
    H = generate_channels(SINGLE, 2, seed=1)
    V0 = random_init((2, 1, 3, 6, 1), np.ones(1), 3)
    km = _kernel_model(_model())
    hr, hi = _parts(H)
    vr, vi = _parts(V0)
    with pytest.raises(DTypeError):
        deepfp_forward(hr.astype(np.float32), hi, vr, vi, km)
    with pytest.raises(ShapeError):
        deepfp_forward(hr[0], hi[0], vr, vi, km)
    with pytest.raises(ShapeError, match="built for"):
        deepfp_forward(*_parts(np.zeros((2, 1, 3, 1, 2, 9), complex) + 1), *_parts(np.zeros((2, 1, 3, 9, 1), complex)), km)
    bad = hr.copy()
    bad[1, 0, 0, 0, 0, 0] = np.nan
    with pytest.raises(InvalidChannelError, match="NaN"):
        deepfp_forward(bad, hi, vr, vi, km)
    zr, zi = hr.copy(), hi.copy()
    zr[1, 0, 2], zi[1, 0, 2] = 0.0, 0.0
    with pytest.raises(InvalidChannelError, match=r"network 1: user \(0, 2\)"):
        deepfp_forward(zr, zi, vr, vi, km)
    with pytest.raises(ConfigError, match="layers"):
        deepfp_forward(hr, hi, vr, vi, km, layers=(2, 2))
    with pytest.raises(ConfigError, match="quantized DeepFP"):
        int_dnn(km)


# ---------------------------------------------------------------------------- hardware mode


@pytest.fixture(scope="module", params=["frobenius", "exact"])
def quantized(tmp_path_factory, request):
    """A 3-layer 8-bit DeepFP on seven cells, saved and reloaded as a model directory (each base step)."""
    H = generate_channels(SEVEN, 10, seed=7)
    m = _model(layers=3, gain=2.0, step_base=request.param)
    q = quantize_deepfp(m, H[:6], bits=8, v_bits=12)
    config = deepfp_model_config(m, SEVEN, {}, [])
    path = save_quant_deepfp(q, config, {"method": "ptq"}, tmp_path_factory.mktemp("q") / "m")
    return path, H[6:]


def test_integer_form_equals_brevitas(quantized):
    path, _ = quantized
    qm, _ = load_quant_deepfp(path)
    dnn = int_dnn(load_deepfp(path))
    for i, net in enumerate(qm.steps):
        for j in range(len(net.re)):
            for part, lin in enumerate((net.re[j], net.im[j])):
                qw = lin.quant_weight()
                ints = qw.int().detach().numpy().astype(np.int64)
                assert np.array_equal(ints, dnn.wq[i, j, part, :ints.shape[0], :ints.shape[1]])
                assert float(qw.scale.detach()) == 2.0 ** dnn.w_exp[i, j, part]
        for q, s in ((net.inp, dnn.s_in[i]), (net.out, dnn.s_out[i])):
            q.return_quant_tensor = True
            try:
                assert float(q(torch.zeros(2, dtype=torch.float64)).scale) == s
            finally:
                q.return_quant_tensor = False


def test_integer_dnn_is_bit_exact_with_the_reference(quantized):
    """Random codes over the whole input range, and a large-input batch that saturates."""
    path, _ = quantized
    km = load_deepfp(path)
    dnn = int_dnn(km)
    nets = ref.dnns(km.arrays, km.quantization, km.n_layers)
    rng = np.random.default_rng(0)
    saturated = 0
    for layer in range(km.n_layers):
        for spread in (30, 128):
            x = rng.integers(-spread, min(spread, 128), size=(2, 12, dnn.n_in))
            out, counts = dnn_codes(x[0].copy(), x[1].copy(), layer, dnn)
            c = dict.fromkeys(("input", "hidden", "output", "v"), 0)
            want = [nets[layer](list(a), list(b), c) for a, b in zip(x[0], x[1])]
            assert out.tolist() == want and counts == c
            saturated += counts["hidden"] + counts["output"]
    assert saturated > 0  # the clamps of the hidden and output codes were exercised
    with pytest.raises(ConfigError, match="input codes"):
        dnn_codes(np.full((1, dnn.n_in), 128, np.int64), np.zeros((1, dnn.n_in), np.int64), 0, dnn)


def test_hardware_forward_equals_the_reference(quantized):
    path, H = quantized
    km = load_deepfp(path)
    V0 = random_init((4, 7, 2, 8, 2), np.ones(7), 9)
    r = deepfp_forward_hw(*_parts(H), *_parts(V0), km)
    q, codes, counts = ref.forward(H, V0, km.arrays, km.quantization, km.n_layers, km.step_base)
    assert np.array_equal(codes, r.step_codes)
    assert np.array_equal(q.real, r.v_code_re) and np.array_equal(q.imag, r.v_code_im)
    assert counts == r.counters
    assert r.v_frac == 11 and np.abs(r.v).max() <= 1


def test_hardware_forward_equals_the_qat_model(quantized):
    """Same step codes and V words as the Brevitas model (biases on the accumulator grid in both)."""
    path, H = quantized
    qm, _ = load_quant_deepfp(path)
    km = load_deepfp(path)
    V0 = random_init((4, 7, 2, 8, 2), np.ones(7), 11)
    outs = []
    hooks = [net.out.register_forward_hook(lambda _m, _a, o: outs.append(o.detach().numpy()[..., 0])) for net in qm.steps]
    try:
        with torch.no_grad():
            V, _ = qm(to_c(H), to_c(V0))
    finally:
        for h in hooks:
            h.remove()
    r = deepfp_forward_hw(*_parts(H), *_parts(V0), km)
    dnn = int_dnn(km)
    qat_codes = np.stack([np.rint(o / dnn.s_out[i]) for i, o in enumerate(outs)], axis=1)
    assert np.array_equal(qat_codes, r.step_codes)
    Vq = V.re.numpy() + 1j * V.im.numpy()
    assert np.array_equal(Vq, r.v)
    assert np.isclose(weighted_sum_rate(H, Vq).mean(), weighted_sum_rate(H, r.v).mean(), rtol=1e-12)


def test_hardware_mode_rejects_malformed_quantization(quantized):
    path, H = quantized
    km = load_deepfp(path)
    V0 = random_init((4, 7, 2, 8, 2), np.ones(7), 9)
    for bad in ({**km.quantization, "v_bits": None}, {**km.quantization, "bits": 40},
                {**km.quantization, "ranges": km.quantization["ranges"][:1]}, {"bits": 8}):
        with pytest.raises(ConfigError):
            deepfp_forward_hw(*_parts(H), *_parts(V0), DeepfpModel(**{**km.__dict__, "quantization": bad}))


def test_hardware_mode_with_fewer_inputs_than_hidden_units(tmp_path):
    """A network with 2 N_t d < hidden (the hybrid problems: N_t = M = 4, d = 1) equals its QAT model."""
    H = generate_channels(SINGLE, 8, seed=3)
    m = _model(n_tx=6, n_streams=1, layers=2, gain=2.0)
    q = quantize_deepfp(m, H[:4], bits=8, v_bits=16)
    path = save_quant_deepfp(q, deepfp_model_config(m, SINGLE, {}, []), {"method": "ptq"}, tmp_path / "m")
    qm, _ = load_quant_deepfp(path)
    V0 = random_init((4, 1, 3, 6, 1), np.ones(1), 2)
    with torch.no_grad():
        V, _ = qm(to_c(H[4:]), to_c(V0))
    r = deepfp_forward_hw(*_parts(H[4:]), *_parts(V0), load_deepfp(path))
    assert np.array_equal(V.re.numpy() + 1j * V.im.numpy(), r.v)
