"""MSER's metric (issue 20): the semi-analytic SER against a Monte Carlo with drawn noise, and
the channel generator's intra-cluster spread."""

import numpy as np
import pytest

from hbf_edge.channels import clustered_mimo
from hbf_edge.errors import ConfigError, ShapeError
from hbf_edge.families.mser.gd import dft_alignment, random_design
from hbf_edge.families.mser.ser import kde_objective, ser_monte_carlo, ser_semi_analytic
from hbf_edge.families.mser.system import MserSizes, all_symbol_vectors, mser_channels, noise_std

SMALL = MserSizes(n_tx=16, n_rf_tx=4, n_users=2, n_rx=4, n_rf_rx=2, n_streams=2)


@pytest.mark.parametrize("constellation,snr", [("qpsk", 0.0), ("qpsk", 10.0), ("16qam", 15.0)])
def test_semi_analytic_ser_equals_monte_carlo(constellation, snr):
    sizes = MserSizes(**{**SMALL.__dict__, "constellation": constellation})
    H = mser_channels(3, sizes, seed=1)
    d = random_design(H, sizes, np.random.default_rng(2))
    sigma = float(noise_std(snr))
    exact = ser_semi_analytic(H, *d, sigma, constellation)
    mc = ser_monte_carlo(H, *d, sigma, 100_000, np.random.default_rng(3), constellation)
    # binomial standard error of 1e5 x K D_k symbols, 4 sigma (16-QAM's exact figure averages a
    # 4096-vector sample of 16^4, so it gets twice the room)
    se = np.sqrt(exact * (1 - exact) / (100_000 * 4)) * (1 if constellation == "qpsk" else 2)
    assert np.all(np.abs(exact - mc) <= 4 * se + 1e-4), (exact, mc)


def test_kde_objective_tends_to_the_ser_bound_as_the_width_is_exact():
    """With every vector sampled and varrho the exact width, eq. (15) is the union bound
    P^R + P^I summed over streams: at most the exact SER times D plus the product term."""
    H = mser_channels(2, SMALL, seed=4)
    d = dft_alignment(H, SMALL)
    sigma = float(noise_std(5.0))
    S = all_symbol_vectors(4)
    ser = ser_semi_analytic(H, *d, sigma, per_stream=True)
    kde = kde_objective(H, *d, S, sigma / np.sqrt(2.0))  # the normalised combiners make this exact
    assert np.all(kde >= ser.sum(axis=(1, 2)) - 1e-12)
    assert np.all(kde <= 2 * ser.sum(axis=(1, 2)) + 1e-12)


def test_ray_spread_keeps_todays_draws_at_zero_and_clusters_the_angles():
    base = clustered_mimo(5, 8, 4, 2, seed=3)
    np.testing.assert_array_equal(clustered_mimo(5, 8, 4, 2, seed=3, ray_spread_deg=0.0), base)
    H = mser_channels(4000, MserSizes(n_tx=32, n_rf_tx=4, n_users=1, n_rx=4, n_rf_rx=2, n_streams=2), seed=0)
    power = np.mean(np.sum(np.abs(H) ** 2, axis=(2, 3)))
    assert abs(power / (32 * 4) - 1) < 0.05  # alpha ~ CN(0, 1): E||H_k||_F^2 = N_t N_r
    with pytest.raises(ShapeError):
        clustered_mimo(1, 4, 4, ray_spread_deg=-1.0)


def test_bad_sizes_and_channels_are_one_line_errors():
    for bad in (dict(n_streams=3, n_rf_rx=2), dict(n_rf_rx=5, n_rx=4), dict(n_rf_tx=3), dict(constellation="8psk")):
        with pytest.raises(ConfigError):
            MserSizes(**{**SMALL.__dict__, **bad})
    with pytest.raises(ShapeError, match="N_r"):
        SMALL.check_channels(np.zeros((2, 3, 4, 16), complex))  # three users
    with pytest.raises(ShapeError, match="NaN"):
        SMALL.check_channels(np.full((2, 2, 4, 16), np.nan, complex))


def test_layer_op_count_matches_the_specs_table():
    """Spec 6.5's table, computed there independently: paper and embedded configurations."""
    from hbf_edge.families.mser.complexity import mser_layer_ops

    paper = mser_layer_ops(MserSizes(), 128)
    assert (paper["real_macs"], paper["sign_macs"], paper["table_lookups"]) == (178_176, 36_864, 7_680)
    embedded = mser_layer_ops(MserSizes(n_tx=32, n_rf_tx=4, n_users=2, n_rx=4, n_rf_rx=2, n_streams=2), 64)
    assert (embedded["real_macs"], embedded["sign_macs"], embedded["table_lookups"]) == (30_400, 8_192, 2_560)
    assert (embedded["sqrt"], embedded["div"]) == (5, 5)  # the combiners' and (26)'s, 1 + D each
    # 16-QAM: D (K + 3) = 20 stream passes per layer, each a square root and three divisions, and
    # per sample a complex MAC (the rotation) and four real MACs (the own-column sums)
    qam = mser_layer_ops(MserSizes(n_tx=32, n_rf_tx=4, n_users=2, n_rx=4, n_rf_rx=2, n_streams=2,
                                   constellation="16qam"), 64)
    assert qam["real_macs"] - embedded["real_macs"] == 20 * 64 * (4 + 4)
    assert (qam["sqrt"], qam["div"], qam["table_lookups"]) == (5 + 20, 5 + 60, 2_560)


def test_candidate_score_op_count_follows_the_kernels_loops():
    """kernels/mser/_cand.py's score, its loops counted by hand on the embedded sizes (N_t=32,
    R_t=4, K=2, N_r=4, R_r=2, D_k=2, D=4) with 512 scoring vectors: F V 32*4*4 = 512 complex MACs;
    per user U_k H_k 2*4*32, G_k 2*32*4, E_k 2*2*4, the stream gains 2*4*2 (2 * 544); Y = E S
    4 * 4^2 * 512 sign-MACs; two error-function lookups per stream and sample."""
    from hbf_edge.families.mser.complexity import candidate_layer_ops, mser_layer_ops, mser_score_ops

    sizes = MserSizes(n_tx=32, n_rf_tx=4, n_users=2, n_rx=4, n_rf_rx=2, n_streams=2)
    score = mser_score_ops(sizes, 512)
    assert (score["complex_macs"], score["sign_macs"], score["table_lookups"]) == (512 + 2 * 544, 32_768, 4_096)
    assert (score["sqrt"], score["div"]) == (4, 4)
    layer = mser_layer_ops(sizes, 64)
    assert candidate_layer_ops(sizes, 64, 512, 14) == {k: 14 * (layer[k] + score[k]) for k in layer}
