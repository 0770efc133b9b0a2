"""Operation count of one MSER layer (``../shared/specs/mser.md`` section 6.5), for the profile
and the target estimate (numpy only).

One layer is four alternating gradient evaluations (P, W, theta_U, theta_F) in the evaluation
order of spec 2.1 -- ``E_k = W_k^H U_k H_k A`` first, so only the ``D^2 J`` products with the
symbol samples depend on J -- plus the element-wise work, the norms and (26).
"""

from __future__ import annotations

from hbf_edge.families.mser.system import MserSizes

__all__ = ["mser_layer_ops"]


def mser_layer_ops(sizes: MserSizes, n_samples: int) -> dict[str, int]:
    """Per layer and channel: complex MACs, real MACs (4 per complex one), sign-MACs (products
    with the QPSK samples: additions only), Gaussian-weight table lookups, and isqrt + divisions.

    ``5 N_t R_t D``: ``A = F V`` three times, ``F^H M``, ``M V^H``; ``4 K N_t N_r D``: ``H_k A`` twice
    and ``H_k^H (.)`` twice; ``6 K R_r N_r D`` and ``8 K D_k R_r D``: the combiner products; then the
    element-wise updates, norms and scaling.  Lookups ``2 D J (K + 3)``: the P sub-step weighs
    every user's samples with each user's width."""
    Nt, Rt, K, Nr, Rr, Dk = (sizes.n_tx, sizes.n_rf_tx, sizes.n_users, sizes.n_rx, sizes.n_rf_rx,
                             sizes.n_streams)
    D = sizes.n_total_streams
    cmac = (5 * Nt * Rt * D + 4 * K * Nt * Nr * D + 6 * K * Rr * Nr * D + 8 * K * Dk * Rr * D
            + (Nt * Rt + K * Rr * Nr + K * Nr * Rr * Dk + Nt * D))
    return {"complex_macs": cmac, "real_macs": 4 * cmac, "sign_macs": 8 * D * D * n_samples,
            "table_lookups": 2 * D * n_samples * (K + 3), "isqrt_div": 2 * (1 + D)}
