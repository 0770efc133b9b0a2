"""MSER's hardware datapath: the Numba integer kernel against the pure-Python reference
(``tests/naive_fixed_mser.py``) word for word and counter for counter, with the default formats
and with formats narrow enough to saturate; the default formats against the float kernel."""

from __future__ import annotations

import numpy as np
import pytest

import naive_fixed_mser
from helpers import MSER_NARROW as NARROW, MSER_TINY as TINY, mser_model
from hbf_edge.errors import ConfigError
from hbf_edge.families.mser.formats import COUNTER_SITES, MserFormats
from hbf_edge.families.mser.gd import dft_alignment
from hbf_edge.families.mser.ser import ser_semi_analytic
from hbf_edge.families.mser.system import MserSizes, mser_channels, noise_std
from hbf_edge.kernels.mser.forward import mser_forward
from hbf_edge.kernels.mser.hardware import MserHwSession, mser_forward_hw, pack_hw



TINY_QAM = MserSizes(**{**TINY.__dict__, "constellation": "16qam"})


@pytest.mark.parametrize("sizes,formats,q_bs,q_ue,refit", [(TINY, MserFormats(), 4, 3, 2), (TINY, NARROW, 2, 6, 0),
                                                          (TINY_QAM, MserFormats(), 4, 3, 2),
                                                          (TINY_QAM, NARROW, 2, 6, 1)])
def test_the_kernel_equals_the_integer_reference(sizes, formats, q_bs, q_ue, refit):
    hw = pack_hw(mser_model(sizes, 2, 6), formats, q_bs, q_ue, refit)
    assert hw.model.qam == (sizes is TINY_QAM)
    H = mser_channels(3, sizes, seed=5)
    sigma = np.array([0.1, 0.3, 0.05])
    start = dft_alignment(H, sizes)
    session = MserHwSession(hw, H, start, sigma)
    session.run()
    got = session.result()
    totals = dict.fromkeys(COUNTER_SITES, 0)
    for b in range(3):
        pair = lambda re, im: [[(int(x), int(y)) for x, y in zip(r1, r2)] for r1, r2 in zip(re, im)]  # noqa: E731
        hr, hi = session._h
        Hn = [pair(hr[b, k], hi[b, k]) for k in range(TINY.n_users)]
        tf, vr, vi, tu, wr, wi = session.start
        W = [pair(wr[b, k], wi[b, k]) for k in range(TINY.n_users)]
        dp = naive_fixed_mser.Datapath(formats, hw.words, q_bs, q_ue, refit, qam=hw.model.qam)
        cf, V, cu, Wo, tfo, tuo, counts = naive_fixed_mser.channel(dp, Hn, tf[b].tolist(), pair(vr[b], vi[b]),
                                                                   tu[b].tolist(), W, int(session._consts[0][b]))
        assert got.F_codes[b].tolist() == cf
        assert got.U_codes[b].tolist() == cu
        assert got.V[b].tolist() == [[list(v) for v in row] for row in V]
        assert got.W[b].tolist() == [[[list(v) for v in row] for row in wk] for wk in Wo]
        assert got.theta_F[b].tolist() == tfo and got.theta_U[b].tolist() == tuo
        for k, v in counts.items():
            totals[k] += v
    totals["input"] += session.n_in
    assert got.counters == totals
    if formats is NARROW:  # the narrow formats saturate the inputs and the products (and round by floor)
        assert got.counters["input"] > 0 and got.counters["weights" if hw.model.qam else "forward"] > 0
    else:
        assert sum(got.counters.values()) == 0


def test_the_default_formats_keep_the_float_networks_ser():
    """At Q = 8 on both sides the integer datapath's SER is the float kernel's within 3 %
    (embedded sizes, 40 channels, 15 dB), with no overflow; at Q = 2 it is clearly worse, and
    refit layers win most of it back; with them the datapath's SER is the quantized torch
    network's (QuantMserNet, same refit) within 5 %."""
    from hbf_edge.families.mser.evaluate import network_design
    from hbf_edge.quant.mser.qat import QuantMserNet

    z = MserSizes(n_tx=32, n_rf_tx=4, n_users=2, n_rx=4, n_rf_rx=2, n_streams=2)
    net, model = mser_model(z, 4, 32, moved=False, torch_net=True)
    H = mser_channels(40, z, seed=11)
    sigma = float(noise_std(15.0))
    start = dft_alignment(H, z)
    ser = lambda d: ser_semi_analytic(H, *d, sigma).mean()  # noqa: E731
    ser_float = ser(mser_forward(H, start, sigma, model))
    fine = mser_forward_hw(pack_hw(model, MserFormats(), 8, 8), H, start, sigma)
    assert sum(fine.counters.values()) == 0
    assert abs(ser(fine.design()) / ser_float - 1) < 0.03
    coarse = ser(mser_forward_hw(pack_hw(model, MserFormats(), 2, 2), H, start, sigma).design())
    refit = ser(mser_forward_hw(pack_hw(model, MserFormats(), 2, 2, refit=6), H, start, sigma).design())
    assert coarse > 1.5 * ser_float and refit < 0.8 * coarse
    torch_refit = ser(network_design(QuantMserNet(net, 2, 2, refit=6), H, z, 15.0))
    assert abs(refit / torch_refit - 1) < 0.05
    F, V, U, W = fine.design()
    assert np.allclose(np.linalg.norm(F @ V, axis=(1, 2)) ** 2, 1.0, atol=2e-3)  # (26) on the applied codes


def test_bad_inputs_are_refused():
    hw = pack_hw(mser_model(TINY, 1, 4), MserFormats(), 4, 4)
    H = mser_channels(2, TINY, seed=1)
    start = dft_alignment(H, TINY)
    with pytest.raises(ConfigError, match="sigma"):
        MserHwSession(hw, H, start, 0.0)
    bad = H.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        MserHwSession(hw, bad, start, 0.1)
    with pytest.raises(ConfigError, match="q_bs"):
        pack_hw(mser_model(TINY, 1, 4), MserFormats(), 17, 4)


def test_a_parallel_batch_equals_its_channels_run_one_by_one():
    hw = pack_hw(mser_model(TINY, 2, 6), NARROW, 2, 6, 1)  # narrow: the counters are not all zero
    H = mser_channels(6, TINY, seed=8)
    sigma = np.linspace(0.05, 0.3, 6)
    start = dft_alignment(H, TINY)
    whole = mser_forward_hw(hw, H, start, sigma)  # 6 >= SERIAL_BELOW: the parallel driver
    totals = dict.fromkeys(COUNTER_SITES, 0)
    for b in range(6):
        one = mser_forward_hw(hw, H[b:b + 1], tuple(x[b:b + 1] for x in start), sigma[b])
        assert np.array_equal(one.F_codes[0], whole.F_codes[b]) and np.array_equal(one.U_codes[0], whole.U_codes[b])
        assert np.array_equal(one.V[0], whole.V[b]) and np.array_equal(one.W[0], whole.W[b])
        totals = {k: totals[k] + one.counters[k] for k in totals}
    assert whole.counters == totals and sum(totals.values()) > 0


def test_a_run_split_into_iterations_gives_the_whole_runs_words_and_codes():
    hw = pack_hw(mser_model(TINY, 3, 6), NARROW, 3, 4, 2)
    H = mser_channels(5, TINY, seed=3)
    start = dft_alignment(H, TINY)
    whole = mser_forward_hw(hw, H, start, 0.2)
    session = MserHwSession(hw, H, start, 0.2)
    assert session.iterations == 3 + 2
    for first, stop in ((0, 1), (1, 3), (3, 4), (4, 5)):  # across the rounding (end of layer 2) and the refits
        session.run(first, stop, reset=first == 0)
    split = session.result()
    for name in ("F_codes", "U_codes", "V", "W", "theta_F", "theta_U"):
        assert np.array_equal(getattr(split, name), getattr(whole, name)), name
    for first, stop in ((0, 0), (2, 7), (-1, 2)):
        with pytest.raises(ConfigError, match="outside"):
            session.run(first, stop)
