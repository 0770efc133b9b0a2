import pytest

from hbf_edge.complexity import OpCount, upga_ops


def _products_flops(N, M, K):
    """Flops of one layer recounted from its list of complex matrix products (8 per MAC)."""
    mac = lambda a, b, c: 8 * a * b * c  # noqa: E731  [a x b] @ [b x c]
    weighted = mac(K, N, M) + mac(K, M, K) + 3 * K * K + 3 * K + K + 2 * K * K
    f_step = weighted + mac(K, K, M) + mac(N, K, M) + 9 * N * M
    w_step = weighted + mac(M, K, K) + 4 * M * K + mac(N, M, K) + 3 * N * K + 2 * M * K
    return f_step, w_step


@pytest.mark.parametrize("N,M,K,I,J", [(64, 4, 4, 10, 1), (32, 6, 3, 5, 2)])
def test_layer_counts_match_the_product_list(N, M, K, I, J):
    ops = upga_ops(N, M, K, I, J)
    f, w = _products_flops(N, M, K)
    assert ops["f_step"].flops == f and ops["w_step"].flops == w
    assert ops["layer"] == J * ops["f_step"] + ops["w_step"]
    # layers after the first reuse the W-step's G = H^H F (one [K x N] @ [N x M] product fewer)
    gram = 8 * K * N * M
    assert ops["total"].flops == ops["init"].flops + I * ops["layer"].flops - (I - 1) * gram
    assert ops["total"].div == ops["init"].div + I * ops["layer"].div
    assert ops["f_step"].sqrt == N * M and ops["f_step"].div == N * M + 2 * K  # projection + 1/a, 1/b
    assert ops["init"].trig == 2 * N * (M - K)


def test_embedded_default_total():
    # N=64, M=K=4, I=10, J=1: 355168 flops per channel (the figure bench prints); 428896
    # without the reuse of G
    assert upga_ops(64, 4, 4, 10, 1)["total"].flops == 355168
    assert OpCount(1, 2, 3, 4) * 2 == OpCount(2, 4, 6, 8)
    with pytest.raises(ValueError):
        upga_ops(0, 4, 4, 1, 1)


@pytest.mark.parametrize("N,M,K,J", [(16, 4, 4, 1), (24, 6, 3, 2)])
def test_matmul_counts_equal_torch_flop_counter(N, M, K, J):
    """Independent count: torch's FlopCounterMode on the network's own init and layer modules
    (it counts 2 m n k per real matmul, i.e. 8 per complex multiply-accumulate)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from hbf_edge import cplx
    from hbf_edge.channels import saleh_valenzuela_miso
    from hbf_edge.families.upga.model import UPGA

    net = UPGA(2, J, M)
    H = cplx.from_complex(torch.from_numpy(saleh_valenzuela_miso(1, N, K, seed=1)))
    p, n = torch.full((1,), 10.0, dtype=torch.float64), torch.ones(1, dtype=torch.float64)
    ops = upga_ops(N, M, K, 2, J)
    with FlopCounterMode(display=False) as counter:  # (its module tracking needs autograd on)
        F, W = net.init(H, p)
    assert counter.get_total_flops() == ops["init"].matmul
    with FlopCounterMode(display=False) as counter:
        net.layers[0](H, F, W, p, n, net.mu[0], net.lam[0])
    assert counter.get_total_flops() == ops["layer"].matmul
    assert ops["layer"].matmul < ops["layer"].flops
