import numpy as np
import pytest

from hbf_edge import ConfigError, InvalidChannelError
from hbf_edge.baselines import sum_rate_np
from hbf_edge.channels import saleh_valenzuela_miso
from hbf_edge.families.upga.evaluate import METHODS, evaluate, layer_summary, write_dump
from hbf_edge.plots import plot_rate_vs_layers, plot_rate_vs_snr
from hbf_edge.families.upga.model import UPGA


@pytest.fixture(scope="module")
def evaluated():
    H = saleh_valenzuela_miso(6, 16, 4, seed=11)
    results, pre = evaluate(UPGA(4, 1, 4), H, [0.0, 10.0], noise=1.0, keep_precoders=True, progress=False)
    return H, results, pre


def test_results_structure_and_ordering(evaluated):
    _, results, _ = evaluated
    assert set(results["sum_rate"]) == set(METHODS)
    assert results["snr_db"] == [0.0, 10.0] and results["sizes"] == {"N": 16, "M": 4, "K": 4, "I": 4, "J": 1}
    layers = results["layers"]["10"]
    assert len(layers["upga"]) == 5 and len(layers["pga"]) == 101
    # PGA-30 and PGA-100 are points of the same trajectory (same fixed steps)
    assert layers["pga"][30] == pytest.approx(results["sum_rate"]["pga30"][1], rel=1e-12)
    assert layers["pga"][100] == pytest.approx(results["sum_rate"]["pga100"][1], rel=1e-12)
    for i in range(2):  # rates grow with SNR for every method
        assert all(results["sum_rate"][m][1] > results["sum_rate"][m][0] for m in METHODS)


def test_the_layer_summary_reads_the_curve(evaluated):
    _, results, _ = evaluated
    for snr, entry in results["layers"].items():  # the evaluation's own curves, summarised
        net, pga = entry["upga"], entry["pga"]
        s = results["layer_summary"][snr]
        assert s["lowest_layer_minus_start"] == min(net[1:]) - net[0]
        for name, iters in (("pga30", 30), ("pga100", 100)):
            reached = [i for i in range(1, len(net)) if net[i] >= pga[iters]]
            assert s["first_layer_reaching"][name] == (reached[0] if reached else None)
    # a hand-made curve: layer 2 dips below the start, layer 3 reaches PGA-30, none PGA-100
    pga = [1.0] * 101
    pga[30], pga[100] = 2.0, 3.0
    s = layer_summary({"upga": [1.5, 1.8, 1.2, 2.0, 2.5], "pga": pga})
    assert s["lowest_layer_minus_start"] == pytest.approx(-0.3)
    assert s["first_layer_reaching"] == {"pga30": 3, "pga100": None}


def test_dump_recomputes_independently(evaluated, tmp_path):
    H, results, pre = evaluated
    path = write_dump(tmp_path / "dump.npz", H, [0.0, 10.0], 1.0, pre)
    d = np.load(path)
    S = 12
    assert d["H"].shape == (S, 16, 4) and d["snr_db"].shape == (S,) and float(d["noise_power"]) == 1.0
    assert d["W_zf"].shape == (S, 16, 4) and "F_zf" not in d.files
    for m in ("upga", "pga30", "pga100", "omp"):
        assert d[f"F_{m}"].shape == (S, 16, 4) and d[f"W_{m}"].shape == (S, 4, 4)
    for i, snr in enumerate([0.0, 10.0]):
        sel = d["snr_db"] == snr
        for m in METHODS:
            X = d["W_zf"][sel] if m == "zf" else d[f"F_{m}"][sel] @ d[f"W_{m}"][sel]
            assert np.allclose(np.sum(np.abs(X) ** 2, axis=(1, 2)), 10 ** (snr / 10))
            assert sum_rate_np(d["H"][sel], X, 1.0).mean() == pytest.approx(results["sum_rate"][m][i], rel=1e-10)


def test_plots_are_written(evaluated, tmp_path):
    _, results, _ = evaluated
    for fn, name in ((plot_rate_vs_snr, "a.png"), (plot_rate_vs_layers, "b.png")):
        path = fn(results, tmp_path / name)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_evaluation_inputs():
    H = saleh_valenzuela_miso(2, 16, 4, seed=1)
    with pytest.raises(ConfigError):
        evaluate(UPGA(2, 1, 4), H, [], progress=False)
    with pytest.raises(ConfigError):
        evaluate(UPGA(2, 1, 4), H, [0.0], noise=-1.0, progress=False)
    H[1] = 0
    with pytest.raises(InvalidChannelError):
        evaluate(UPGA(2, 1, 4), H, [0.0], progress=False)


def test_the_kernel_pga_is_torch_pga_iterate_by_iterate():
    """evaluate's PGA baselines run on the Numba kernel: every iterate equals torch's Algorithm 1
    (``pga_iterates``, the same fixed steps and J) to the rounding level, for M > K too."""
    import torch

    from hbf_edge.families.upga.evaluate import _to_c, pga_designs
    from hbf_edge.families.upga.model import PGA_LAMBDA0, PGA_MU0, pga_iterates

    H = saleh_valenzuela_miso(7, 16, 3, seed=21)
    p_np = np.full(7, 10.0 ** 1.5)
    mu = torch.full((6, 2), PGA_MU0, dtype=torch.float64)
    lam = torch.full((6,), PGA_LAMBDA0, dtype=torch.float64)
    ref = list(pga_iterates(_to_c(H), torch.from_numpy(p_np), torch.full((7,), 0.5, dtype=torch.float64), mu, lam, 4))
    count, first = 0, None
    for (F, W), design in zip(pga_designs(H, p_np, 0.5, 6, 4, 2), ref, strict=True):  # each as it comes
        for a, b in zip((F.re, F.im, W.re, W.im), (*design.F, *design.W)):
            assert torch.allclose(a, b, rtol=0, atol=1e-12)
        first = F.re.clone() if count == 1 else first
        count += 1
    assert count == 7 and not torch.allclose(first, F.re)  # the iterates move
