"""Slow, obviously correct references for the kernels: complex numpy, the paper's formulas as
printed (explicit H~_k, V, V_kbar, traces, pseudo-inverses), loops over channels and users.
Used only by tests."""

import numpy as np


def grad_F(h, F, W, s2):
    """Eq. (10) for one channel: h [N, K], F [N, M], W [M, K]."""
    K = h.shape[1]
    V = W @ W.conj().T
    g = np.zeros_like(F)
    for k in range(K):
        Ht = np.outer(h[:, k], h[:, k].conj())
        Wk = W.copy()
        Wk[:, k] = 0
        Vk = Wk @ Wk.conj().T
        g += Ht @ F @ V / (np.trace(F @ V @ F.conj().T @ Ht).real + s2)
        g -= Ht @ F @ Vk / (np.trace(F @ Vk @ F.conj().T @ Ht).real + s2)
    return g


def grad_W(h, F, W, s2):
    """Eq. (11) for one channel."""
    K = h.shape[1]
    g = np.zeros_like(W)
    for k in range(K):
        Hb = F.conj().T @ np.outer(h[:, k], h[:, k].conj()) @ F
        Wk = W.copy()
        Wk[:, k] = 0
        g += Hb @ W / (np.trace(W @ W.conj().T @ Hb).real + s2)
        g -= Hb @ Wk / (np.trace(Wk @ Wk.conj().T @ Hb).real + s2)
    return g


def project(F):
    """Eq. (7), with 0 -> 1."""
    mag = np.abs(F)
    return np.where(mag > 0, F / np.where(mag > 0, mag, 1), 1.0)


def normalize(F, W, pt):
    """Eq. (9) with sqrt(P_t)."""
    return np.sqrt(pt) * W / np.linalg.norm(F @ W)


def init(h, pt, M):
    """Eq. (12)-(13); DFT beams for RF chains K..M-1."""
    N, K = h.shape
    F = np.exp(1j * np.angle(h))
    if M > K:
        n = np.arange(N)[:, None]
        F = np.concatenate([F, np.exp(-2j * np.pi * n * np.arange(M - K)[None, :] / N)], axis=1)
    W = np.linalg.pinv(F) @ np.linalg.pinv(h.conj().T)
    return F, normalize(F, W, pt)


def forward(H, p_t, noise, mu, lam, M):
    """Algorithm 1 for a batch: H [B, N, K] complex; returns F [B, N, M], W [B, M, K]."""
    Fs, Ws = [], []
    for b in range(H.shape[0]):
        F, W = init(H[b], p_t[b], M)
        for i in range(len(lam)):
            for j in range(mu.shape[1]):
                F = project(F + mu[i, j] * grad_F(H[b], F, W, noise[b]))
            W = normalize(F, W + lam[i] * grad_W(H[b], F, W, noise[b]), p_t[b])
        Fs.append(F)
        Ws.append(W)
    return np.stack(Fs), np.stack(Ws)


# --- UPGANet (upganet_jcas.txt): the formulas as printed, with xi = 1/ln 2 and U = A D D^H A^H


def jcas_init(h, pt, M, steer):
    """Eq. (17): A_0 = phases of [h_1..h_K, a(theta_1)..] (coherent sign), D_0 = A_0^+ H^+."""
    K = h.shape[1]
    A = np.exp(1j * np.angle(np.concatenate([h, steer[:, : M - K]], axis=1)))
    D = np.linalg.pinv(A) @ np.linalg.pinv(h.conj().T)
    return A, normalize(A, D, pt)


def jcas_forward(H, p_t, noise, psi1, steer, mu, lam, M, omega, eta):
    """Algorithm 1 of the JCAS paper for a batch; returns A [B, N, M], D [B, M, K]."""
    xi = 1.0 / np.log(2.0)
    As, Ds = [], []
    for b in range(H.shape[0]):
        h, pt, s2 = H[b], p_t[b], noise[b]
        Psi = pt * psi1
        A, D = jcas_init(h, pt, M, steer)
        for i in range(len(lam)):
            for j in range(mu.shape[1]):
                U = A @ D @ D.conj().T @ A.conj().T
                g_tau = 2 * (U - Psi) @ A @ D @ D.conj().T  # eq. (12)
                A = project(A + mu[i, j] * (xi * grad_F(h, A, D, s2) - omega * g_tau))  # (10), (14b), (7)
            U = A @ D @ D.conj().T @ A.conj().T
            g_tau = 2 * A.conj().T @ (U - Psi) @ A @ D  # eq. (13)
            D = normalize(A, D + lam[i] * (xi * grad_W(h, A, D, s2) - omega * eta * g_tau), pt)  # (15), (9)
        As.append(A)
        Ds.append(D)
    return np.stack(As), np.stack(Ds)
