/* ---- Small dense complex algebra of the bit-accurate datapath (hand-written;
 * hbf-edge export/_core/c_src/linalg.c), the C twin of kernels/_core/linalg_fixed.py.
 *
 * Matrices are row-major (re, im) pairs of int64_t arrays in the accumulator format; every
 * stored value is rounded once by that format's rule and fitted, overflows counted in
 * cnt[site].  HBF_DMAX (the largest inverted dimension) comes from hbf_model.h. */

/* Partial pivoting of Gauss-Jordan column col of the n x n matrices a and out. */
static void hbf_pivot_rows(int64_t *a, int64_t *out, int64_t n, int64_t col)
{
    int64_t piv = col, best = hbf_abs(a[col * n + col]), r, j, t;
    for (r = col + 1; r < n; r++) {
        if (hbf_abs(a[r * n + col]) > best) {
            best = hbf_abs(a[r * n + col]);
            piv = r;
        }
    }
    if (piv != col) {
        for (j = 0; j < n; j++) {
            t = a[col * n + j];
            a[col * n + j] = a[piv * n + j];
            a[piv * n + j] = t;
            t = out[col * n + j];
            out[col * n + j] = out[piv * n + j];
            out[piv * n + j] = t;
        }
    }
}

/* Gauss-Jordan inverse of the real n x n matrix a (accumulator format; destroyed) into out. */
static void hbf_inv(int64_t *a, int64_t *out, int64_t n, const int64_t (*fm)[5], uint32_t *cnt, int site)
{
    const int64_t fA = fm[HBF_ACC][0], mode = fm[HBF_ACC][3];
    int64_t i, j, col, row, p, r, f;
    for (i = 0; i < n; i++) {
        for (j = 0; j < n; j++) {
            out[i * n + j] = i == j ? ((int64_t)1 << fA) : 0;
        }
    }
    for (col = 0; col < n; col++) {
        hbf_pivot_rows(a, out, n, col);
        p = a[col * n + col];
        if (p == 0) { /* singular to working precision: counted, column left as is */
            cnt[site] += 1;
            continue;
        }
        r = hbf_fit(hbf_div_round((int64_t)1 << (2 * fA), p, mode), fm[HBF_ACC], cnt, site);
        for (j = 0; j < n; j++) {
            a[col * n + j] = hbf_requant(a[col * n + j] * r, fA, fm[HBF_ACC], cnt, site);
            out[col * n + j] = hbf_requant(out[col * n + j] * r, fA, fm[HBF_ACC], cnt, site);
        }
        for (row = 0; row < n; row++) {
            if (row == col) {
                continue;
            }
            f = a[row * n + col];
            if (f == 0) {
                continue;
            }
            for (j = 0; j < n; j++) {
                a[row * n + j] = hbf_fit(a[row * n + j] - hbf_rshift(f * a[col * n + j], fA, mode),
                                         fm[HBF_ACC], cnt, site);
                out[row * n + j] = hbf_fit(out[row * n + j] - hbf_rshift(f * out[col * n + j], fA, mode),
                                           fm[HBF_ACC], cnt, site);
            }
        }
    }
}

/* Complex n x n inverse through the real embedding [[Xr, -Xi], [Xi, Xr]]. */
static void hbf_cinv(const int64_t *xr, const int64_t *xi, int64_t n, int64_t *outr, int64_t *outi,
                     const int64_t (*fm)[5], uint32_t *cnt, int site)
{
    int64_t big[4 * HBF_DMAX * HBF_DMAX], inv[4 * HBF_DMAX * HBF_DMAX];
    const int64_t m = 2 * n;
    int64_t i, j;
    for (i = 0; i < n; i++) {
        for (j = 0; j < n; j++) {
            big[i * m + j] = xr[i * n + j];
            big[i * m + j + n] = -xi[i * n + j];
            big[(i + n) * m + j] = xi[i * n + j];
            big[(i + n) * m + j + n] = xr[i * n + j];
        }
    }
    hbf_inv(big, inv, m, fm, cnt, site);
    for (i = 0; i < n; i++) {
        for (j = 0; j < n; j++) {
            outr[i * n + j] = inv[i * m + j];
            outi[i * n + j] = inv[(i + n) * m + j];
        }
    }
}

/* out [P, Q] = A^H B (A [N, P], B [N, Q]) rounded down by shift bits into the accumulator. */
static void hbf_gram(const int64_t *ar, const int64_t *ai, int64_t N, int64_t P, const int64_t *br,
                     const int64_t *bi, int64_t Q, int64_t *outr, int64_t *outi, int64_t shift,
                     const int64_t (*fm)[5], uint32_t *cnt, int site)
{
    int64_t i, j, n, sr, si;
    for (i = 0; i < P; i++) {
        for (j = 0; j < Q; j++) {
            sr = 0;
            si = 0;
            for (n = 0; n < N; n++) {
                sr += ar[n * P + i] * br[n * Q + j] + ai[n * P + i] * bi[n * Q + j];
                si += ar[n * P + i] * bi[n * Q + j] - ai[n * P + i] * br[n * Q + j];
            }
            outr[i * Q + j] = hbf_requant(sr, shift, fm[HBF_ACC], cnt, site);
            outi[i * Q + j] = hbf_requant(si, shift, fm[HBF_ACC], cnt, site);
        }
    }
}

/* out [P, Q] = A B (A [P, R], B [R, Q]) rounded down by shift bits into the accumulator. */
static void hbf_matmul(const int64_t *ar, const int64_t *ai, int64_t P, int64_t R, const int64_t *br,
                       const int64_t *bi, int64_t Q, int64_t *outr, int64_t *outi, int64_t shift,
                       const int64_t (*fm)[5], uint32_t *cnt, int site)
{
    int64_t i, j, r, sr, si;
    for (i = 0; i < P; i++) {
        for (j = 0; j < Q; j++) {
            sr = 0;
            si = 0;
            for (r = 0; r < R; r++) {
                sr += ar[i * R + r] * br[r * Q + j] - ai[i * R + r] * bi[r * Q + j];
                si += ar[i * R + r] * bi[r * Q + j] + ai[i * R + r] * br[r * Q + j];
            }
            outr[i * Q + j] = hbf_requant(sr, shift, fm[HBF_ACC], cnt, site);
            outi[i * Q + j] = hbf_requant(si, shift, fm[HBF_ACC], cnt, site);
        }
    }
}
