"""Operation count of one MSER layer (``../shared/specs/mser.md`` section 6.5), for the profile
and the target estimate (numpy only).

One layer is four alternating gradient evaluations (P, W, theta_U, theta_F) in the evaluation
order of spec 2.1 -- ``E_k = W_k^H U_k H_k A`` first, so only the ``D^2 J`` products with the
symbol samples depend on J -- plus the element-wise work, the norms and (26).
"""

from __future__ import annotations

from hbf_edge.families.mser.system import MserSizes

__all__ = ["mser_layer_ops", "mser_score_ops", "candidate_layer_ops"]


def mser_layer_ops(sizes: MserSizes, n_samples: int) -> dict[str, int]:
    """Per layer and channel: complex MACs, real MACs (4 per complex one), sign-MACs (products
    with the symbol samples: additions only for QPSK, shifts and additions for 16-QAM's +-3),
    Gaussian-weight table lookups, square roots and divisions (``isqrt_div`` their sum).

    ``5 N_t R_t D``: ``A = F V`` three times, ``F^H M``, ``M V^H``; ``4 K N_t N_r D``: ``H_k A`` twice
    and ``H_k^H (.)`` twice; ``6 K R_r N_r D`` and ``8 K D_k R_r D``: the combiner products; then the
    element-wise updates, norms and scaling.  Lookups ``2 D J (K + 3)``: the P sub-step weighs
    every user's samples with each user's width, so a layer makes ``D (K + 3)`` stream passes.
    16-QAM's weights (eq. 47-48) add per stream pass a square root (``|c|``) and three divisions
    (``c / |c|`` and the own-column term), and per sample the rotation ``Y conj(q)`` (one complex
    MAC) and the own-column sums (four real MACs)."""
    Nt, Rt, K, Nr, Rr, Dk = (sizes.n_tx, sizes.n_rf_tx, sizes.n_users, sizes.n_rx, sizes.n_rf_rx,
                             sizes.n_streams)
    D = sizes.n_total_streams
    passes = D * (K + 3)
    qam = sizes.constellation == "16qam"
    cmac = (5 * Nt * Rt * D + 4 * K * Nt * Nr * D + 6 * K * Rr * Nr * D + 8 * K * Dk * Rr * D
            + (Nt * Rt + K * Rr * Nr + K * Nr * Rr * Dk + Nt * D)) + (passes * n_samples if qam else 0)
    sqrt, div = 1 + D + (passes if qam else 0), 1 + D + (3 * passes if qam else 0)
    return {"complex_macs": cmac, "real_macs": 4 * cmac + (4 * passes * n_samples if qam else 0),
            "sign_macs": 8 * D * D * n_samples, "table_lookups": 2 * D * n_samples * (K + 3), "sqrt": sqrt,
            "div": div, "isqrt_div": sqrt + div}


def mser_score_ops(sizes: MserSizes, n_samples: int) -> dict[str, int]:
    """One candidate score per channel (:meth:`hbf_edge.families.mser.model.MserNet.score`, in
    ``kernels/mser/_cand.py``'s order): ``A = F V`` (``N_t R_t D``), per user ``U_k H_k``, ``G_k``
    and ``E_k`` (``R_r N_r N_t + R_r N_t D + D_k R_r D``) and the stream gains ``||U_k^H w_ik||``
    (``D_k N_r R_r``) in complex MACs; ``Y = E S`` in sign-MACs (``4 D^2 J_s``); per sample and
    stream one error-function lookup per part (16-QAM: two per part, both boundaries, and the
    rotation, one complex MAC); a square root and a division per stream (16-QAM: one more of
    each for ``|c|``)."""
    Nt, Rt, K, Nr, Rr, Dk = (sizes.n_tx, sizes.n_rf_tx, sizes.n_users, sizes.n_rx, sizes.n_rf_rx,
                             sizes.n_streams)
    D, J = sizes.n_total_streams, n_samples
    qam = sizes.constellation == "16qam"
    cmac = Nt * Rt * D + K * (Rr * Nr * Nt + Rr * Nt * D + Dk * Rr * D + Dk * Nr * Rr) + (D * J if qam else 0)
    sqrt, div = D * (2 if qam else 1), D * (2 if qam else 1)
    return {"complex_macs": cmac, "real_macs": 4 * cmac, "sign_macs": 4 * D * D * J,
            "table_lookups": (4 if qam else 2) * D * J, "sqrt": sqrt, "div": div, "isqrt_div": sqrt + div}


def candidate_layer_ops(sizes: MserSizes, n_samples: int, score_samples: int, passes: int) -> dict[str, int]:
    """One candidate layer per channel: ``passes`` layer passes (the table's non-zero rows), each
    followed by its score (the kept design's score is carried from the layer before)."""
    layer, score = mser_layer_ops(sizes, n_samples), mser_score_ops(sizes, score_samples)
    return {k: passes * (layer[k] + score[k]) for k in layer}
