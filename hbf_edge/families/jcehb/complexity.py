"""Operation counts of the JCEHB per-slot network (spec section 6.4; complex MACs, N = N_t^RF,
R = N_r^RF, S = N_s), per layer and user set."""

from __future__ import annotations

from hbf_edge.families.jcehb.system import JcehbSizes

__all__ = ["cedun_layer_ops", "hbdun_layer_ops"]


def cedun_layer_ops(z: JcehbSizes) -> dict[str, int]:
    """One CEDUN layer, all users: ``K (3 N^2 + 3 N R + 4 N)`` complex MACs (P x, v g^H, the
    T_p multiplier; W^H x, v e^H, the T_w multiplier; four element-wise N-vectors) and ``K``
    complex reciprocals."""
    N, R, K = z.n_rf_tx, z.n_rf_rx, z.n_users
    cmacs = K * (3 * N * N + 3 * N * R + 4 * N)
    return {"complex_macs": cmacs, "real_macs": 4 * cmacs, "reciprocals": K, "isqrt": 0}


def hbdun_layer_ops(z: JcehbSizes, exact: bool = False) -> dict[str, int]:
    """One HBDUN layer, all users (spec 6.4): (31a) with the R x R inverse, (31c) with
    ``diag(C)^-1 B + D^-`` (``exact``: a complex Gauss-Jordan inverse of C, ``N^3``, replaces
    forming the K matrices ``K N^2``), the power normalisation through ``G_F``, (31d)'s gains;
    ``K R + K N`` reciprocals (``K R + N`` with the exact inverse's pivots), ``K`` isqrt."""
    N, R, K, S = z.n_rf_tx, z.n_rf_rx, z.n_users, z.n_streams
    w = K * (R * N * K * S + R * R * K * S + R ** 3 + R * R * S + R * S)
    c = K * S * N * R + K * S * N * N + (N ** 3 if exact else K * N * N)
    f = K * S * N * N + K * S * N + K * S * N * N
    t = K * (S * R * N + K * S * S * N)
    cmacs = w + c + f + t
    return {"complex_macs": cmacs, "real_macs": 4 * cmacs, "reciprocals": K * R + (N if exact else K * N),
            "isqrt": K}
