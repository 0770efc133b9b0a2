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
    assert ops["total"] == ops["init"] + I * ops["layer"]
    assert ops["f_step"].sqrt == N * M and ops["f_step"].div == N * M + 2 * K  # projection + 1/a, 1/b
    assert ops["init"].trig == 2 * N * (M - K)


def test_embedded_default_total():
    # N=64, M=K=4, I=10, J=1: 428896 flops per channel (the figure bench prints)
    assert upga_ops(64, 4, 4, 10, 1)["total"].flops == 428896
    assert OpCount(1, 2, 3, 4) * 2 == OpCount(2, 4, 6, 8)
    with pytest.raises(ValueError):
        upga_ops(0, 4, 4, 1, 1)
