/* ---- The UPGA datapath (hand-written; hbf-edge export/upga/c_src/datapath.c), the C twin of
 * kernels/upga/_fixed.py: same formats, rounding, saturation, tie rules and overflow counters,
 * in the same order.  The equations are those of the UPGA paper (eq. 6-13);
 * kernels/upga/_fixed.py says how each is scaled into integers.  UPGANet's datapath
 * (export/upganet/c_src/design.c) reuses it, passing its sensing terms T and V. */

#define NK (HBF_N * HBF_K)
#define NM (HBF_N * HBF_M)
#define MK (HBF_M * HBF_K)
#define KM (HBF_K * HBF_M)
#define KK (HBF_K * HBF_K)
#define MM (HBF_M * HBF_M)

typedef const int64_t (*hbf_fm_t)[5];

/* Per-channel state: the channel, the codes with their table words, W, and scratch. */
typedef struct {
    int64_t hr[NK], hi[NK];
    int64_t codes[NM], fc[NM], fs[NM];
    int64_t wr[MK], wi[MK];
    int64_t gr[KM], gi[KM], cr[KK], ci[KK], dr[KM], di[KM], ar[MK], ai[MK];
    int64_t noise;
    uint32_t cnt[HBF_SITES];
} hbf_state;

/* G = H^H F (accumulator) into gr/gi [K, M]. */
static void hbf_gain(const hbf_state *s, hbf_fm_t fm, uint32_t *cnt, int64_t *gr, int64_t *gi)
{
    const int64_t fH = fm[HBF_CH][0], fL = fm[HBF_LUT][0], fA = fm[HBF_ACC][0];
    int64_t n, k, m, xr, xi;
    for (k = 0; k < KM; k++) {
        gr[k] = 0;
        gi[k] = 0;
    }
    for (n = 0; n < HBF_N; n++) {
        for (k = 0; k < HBF_K; k++) {
            xr = s->hr[n * HBF_K + k];
            xi = s->hi[n * HBF_K + k];
            for (m = 0; m < HBF_M; m++) {
                gr[k * HBF_M + m] += xr * s->fc[n * HBF_M + m] + xi * s->fs[n * HBF_M + m];
                gi[k * HBF_M + m] += xr * s->fs[n * HBF_M + m] - xi * s->fc[n * HBF_M + m];
            }
        }
    }
    for (k = 0; k < KM; k++) {
        gr[k] = hbf_requant(gr[k], fH + fL - fA, fm[HBF_ACC], cnt, HBF_SITE_G);
        gi[k] = hbf_requant(gi[k], fH + fL - fA, fm[HBF_ACC], cnt, HBF_SITE_G);
    }
}

/* E = G W (accumulator) into er/ei [K, K]: E[k, l] is user k's gain on stream l. */
static void hbf_received(const int64_t *gr, const int64_t *gi, const int64_t *wr, const int64_t *wi, hbf_fm_t fm,
                         uint32_t *cnt, int64_t *er, int64_t *ei)
{
    const int64_t fW = fm[HBF_PRE][0];
    int64_t k, l, m, sr, si;
    for (k = 0; k < HBF_K; k++) {
        for (l = 0; l < HBF_K; l++) {
            sr = 0;
            si = 0;
            for (m = 0; m < HBF_M; m++) {
                sr += gr[k * HBF_M + m] * wr[m * HBF_K + l] - gi[k * HBF_M + m] * wi[m * HBF_K + l];
                si += gr[k * HBF_M + m] * wi[m * HBF_K + l] + gi[k * HBF_M + m] * wr[m * HBF_K + l];
            }
            er[k * HBF_K + l] = hbf_requant(sr, fW, fm[HBF_ACC], cnt, HBF_SITE_E);
            ei[k * HBF_K + l] = hbf_requant(si, fW, fm[HBF_ACC], cnt, HBF_SITE_E);
        }
    }
}

/* User k's a_k (received power plus noise) and b_k (interference plus noise), eq. (4). */
static void hbf_user_powers(const int64_t *er, const int64_t *ei, int64_t k, int64_t noise, hbf_fm_t fm,
                            uint32_t *cnt, int64_t *a_out, int64_t *b_out)
{
    const int64_t fA = fm[HBF_ACC][0];
    int64_t a = noise, pkk = 0, l, p;
    for (l = 0; l < HBF_K; l++) {
        const int64_t r = er[k * HBF_K + l], i = ei[k * HBF_K + l];
        p = hbf_requant(r * r + i * i, fA, fm[HBF_ACC], cnt, HBF_SITE_POWER);
        a += p;
        if (l == k) {
            pkk = p;
        }
    }
    a = hbf_fit(a, fm[HBF_ACC], cnt, HBF_SITE_POWER);
    *a_out = a;
    *b_out = hbf_fit(a - pkk, fm[HBF_ACC], cnt, HBF_SITE_POWER);
}

/* G = H^H F into s->gr/gi and C of eq. (10)-(11) (gradient format) into s->cr/ci. */
static void hbf_weighted_e(hbf_state *s, hbf_fm_t fm)
{
    const int64_t fA = fm[HBF_ACC][0], fG = fm[HBF_GRD][0];
    int64_t k, l, a, b, one, ra, rb, off, coef;
    hbf_gain(s, fm, s->cnt, s->gr, s->gi);
    hbf_received(s->gr, s->gi, s->wr, s->wi, fm, s->cnt, s->cr, s->ci);
    for (k = 0; k < HBF_K; k++) {
        hbf_user_powers(s->cr, s->ci, k, s->noise, fm, s->cnt, &a, &b);
        one = (int64_t)1 << (fA + fG);
        ra = hbf_fit(hbf_div_round(one, hbf_max(a, 1), fm[HBF_GRD][3]), fm[HBF_GRD], s->cnt, HBF_SITE_RECIPROCAL);
        rb = hbf_fit(hbf_div_round(one, hbf_max(b, 1), fm[HBF_GRD][3]), fm[HBF_GRD], s->cnt, HBF_SITE_RECIPROCAL);
        off = hbf_fit(ra - rb, fm[HBF_GRD], s->cnt, HBF_SITE_RECIPROCAL);
        for (l = 0; l < HBF_K; l++) {
            coef = l == k ? ra : off;
            s->cr[k * HBF_K + l] = hbf_requant(s->cr[k * HBF_K + l] * coef, fA, fm[HBF_GRD], s->cnt, HBF_SITE_C);
            s->ci[k * HBF_K + l] = hbf_requant(s->ci[k * HBF_K + l] * coef, fA, fm[HBF_GRD], s->cnt, HBF_SITE_C);
        }
    }
}

/* D = C W^H (gradient format) into s->dr/di [K, M], the factor of eq. (10) left of H. */
static void hbf_d(hbf_state *s, hbf_fm_t fm)
{
    const int64_t fW = fm[HBF_PRE][0];
    int64_t k, m, l, sr, si;
    for (k = 0; k < HBF_K; k++) {
        for (m = 0; m < HBF_M; m++) {
            sr = 0;
            si = 0;
            for (l = 0; l < HBF_K; l++) {
                sr += s->cr[k * HBF_K + l] * s->wr[m * HBF_K + l] + s->ci[k * HBF_K + l] * s->wi[m * HBF_K + l];
                si += s->ci[k * HBF_K + l] * s->wr[m * HBF_K + l] - s->cr[k * HBF_K + l] * s->wi[m * HBF_K + l];
            }
            s->dr[k * HBF_M + m] = hbf_requant(sr, fW, fm[HBF_GRD], s->cnt, HBF_SITE_D);
            s->di[k * HBF_M + m] = hbf_requant(si, fW, fm[HBF_GRD], s->cnt, HBF_SITE_D);
        }
    }
}

/* Eq. (6)-(7): x = F + mu (H D - T) (gradient format; T [N, M] in the gradient format's units,
 * NULL for none), projected onto the code book (codes and their table words lc/ls, n codes) if
 * to_code, else onto the unit circle, x / isqrt(|x|^2) in the lut format ((1, 0) for x = 0). */
static void hbf_f_update(hbf_state *s, const int32_t *lc, const int32_t *ls, int64_t n_codes, int64_t mu,
                         hbf_fm_t fm, const int64_t *tr, const int64_t *ti, int to_code)
{
    const int64_t fH = fm[HBF_CH][0], fL = fm[HBF_LUT][0], fG = fm[HBF_GRD][0], fS = fm[HBF_STP][0];
    const int64_t gmode = fm[HBF_GRD][3], up = fG - fL;
    int64_t n, m, k, sr, si, g_r, g_i, x_r, x_i, c;
    for (n = 0; n < HBF_N; n++) {
        for (m = 0; m < HBF_M; m++) {
            sr = 0;
            si = 0;
            for (k = 0; k < HBF_K; k++) {
                sr += s->hr[n * HBF_K + k] * s->dr[k * HBF_M + m] - s->hi[n * HBF_K + k] * s->di[k * HBF_M + m];
                si += s->hr[n * HBF_K + k] * s->di[k * HBF_M + m] + s->hi[n * HBF_K + k] * s->dr[k * HBF_M + m];
            }
            g_r = hbf_fit(hbf_rshift(sr, fH, gmode) - (tr ? tr[n * HBF_M + m] : 0), fm[HBF_GRD], s->cnt,
                          HBF_SITE_GRAD_F);
            g_i = hbf_fit(hbf_rshift(si, fH, gmode) - (ti ? ti[n * HBF_M + m] : 0), fm[HBF_GRD], s->cnt,
                          HBF_SITE_GRAD_F);
            x_r = hbf_fit(hbf_shl(s->fc[n * HBF_M + m], up) + hbf_rshift(mu * g_r, fS, gmode), fm[HBF_GRD], s->cnt,
                          HBF_SITE_F_UPDATE);
            x_i = hbf_fit(hbf_shl(s->fs[n * HBF_M + m], up) + hbf_rshift(mu * g_i, fS, gmode), fm[HBF_GRD], s->cnt,
                          HBF_SITE_F_UPDATE);
            if (to_code) {
                c = hbf_nearest_code(x_r, x_i, lc, ls, n_codes);
                s->codes[n * HBF_M + m] = c;
                s->fc[n * HBF_M + m] = lc[c];
                s->fs[n * HBF_M + m] = ls[c];
            } else {
                c = hbf_isqrt(x_r * x_r + x_i * x_i);
                if (c == 0) {
                    s->fc[n * HBF_M + m] = (int64_t)1 << fL;
                    s->fs[n * HBF_M + m] = 0;
                } else {
                    s->fc[n * HBF_M + m] = hbf_fit(hbf_div_round(hbf_shl(x_r, fL), c, fm[HBF_LUT][3]), fm[HBF_LUT],
                                                   s->cnt, HBF_SITE_F_UPDATE);
                    s->fs[n * HBF_M + m] = hbf_fit(hbf_div_round(hbf_shl(x_i, fL), c, fm[HBF_LUT][3]), fm[HBF_LUT],
                                                   s->cnt, HBF_SITE_F_UPDATE);
                }
            }
        }
    }
}

/* Eq. (9) in the normalised units: W = W_acc sqrt(N / ||F W_acc||^2) (precoder format). */
static void hbf_normalize(const int64_t *fc, const int64_t *fs, const int64_t *ar, const int64_t *ai, int64_t *wr,
                          int64_t *wi, hbf_fm_t fm, uint32_t *cnt)
{
    const int64_t fL = fm[HBF_LUT][0], fA = fm[HBF_ACC][0], fG = fm[HBF_GRD][0], fW = fm[HBF_PRE][0];
    int64_t norm2 = 0, n, l, m, sr, si, xr, xi, sc;
    for (n = 0; n < HBF_N; n++) {
        for (l = 0; l < HBF_K; l++) {
            sr = 0;
            si = 0;
            for (m = 0; m < HBF_M; m++) {
                sr += fc[n * HBF_M + m] * ar[m * HBF_K + l] - fs[n * HBF_M + m] * ai[m * HBF_K + l];
                si += fc[n * HBF_M + m] * ai[m * HBF_K + l] + fs[n * HBF_M + m] * ar[m * HBF_K + l];
            }
            xr = hbf_requant(sr, fL, fm[HBF_ACC], cnt, HBF_SITE_NORM);
            xi = hbf_requant(si, fL, fm[HBF_ACC], cnt, HBF_SITE_NORM);
            norm2 += hbf_requant(xr * xr + xi * xi, fA, fm[HBF_ACC], cnt, HBF_SITE_NORM);
        }
    }
    norm2 = hbf_max(hbf_fit(norm2, fm[HBF_ACC], cnt, HBF_SITE_NORM), 1);
    sc = hbf_fit(hbf_isqrt(hbf_shl(HBF_N, fA + 2 * fG) / norm2), fm[HBF_GRD], cnt, HBF_SITE_NORM);
    for (m = 0; m < MK; m++) {
        wr[m] = hbf_requant(ar[m] * sc, fA + fG - fW, fm[HBF_PRE], cnt, HBF_SITE_W);
        wi[m] = hbf_requant(ai[m] * sc, fA + fG - fW, fm[HBF_PRE], cnt, HBF_SITE_W);
    }
}

/* Eq. (8): W_acc = W + lambda' (G^H C - V) (accumulator) into s->ar/ai, before eq. (9); V [M, K]
 * in the gradient format's units, NULL for none. */
static void hbf_w_update(hbf_state *s, int64_t lam, hbf_fm_t fm, const int64_t *vr, const int64_t *vi)
{
    const int64_t fA = fm[HBF_ACC][0], fG = fm[HBF_GRD][0], fS = fm[HBF_STP][0], fW = fm[HBF_PRE][0];
    const int64_t gmode = fm[HBF_GRD][3];
    int64_t m, l, k, sr, si, gw_r, gw_i;
    for (m = 0; m < HBF_M; m++) {
        for (l = 0; l < HBF_K; l++) {
            sr = 0;
            si = 0;
            for (k = 0; k < HBF_K; k++) {
                sr += s->gr[k * HBF_M + m] * s->cr[k * HBF_K + l] + s->gi[k * HBF_M + m] * s->ci[k * HBF_K + l];
                si += s->gr[k * HBF_M + m] * s->ci[k * HBF_K + l] - s->gi[k * HBF_M + m] * s->cr[k * HBF_K + l];
            }
            gw_r = hbf_fit(hbf_rshift(sr, fA, gmode) - (vr ? vr[m * HBF_K + l] : 0), fm[HBF_GRD], s->cnt,
                           HBF_SITE_GRAD_W);
            gw_i = hbf_fit(hbf_rshift(si, fA, gmode) - (vi ? vi[m * HBF_K + l] : 0), fm[HBF_GRD], s->cnt,
                           HBF_SITE_GRAD_W);
            s->ar[m * HBF_K + l] = hbf_fit(hbf_shl(s->wr[m * HBF_K + l], fA - fW)
                                           + hbf_rshift(lam * gw_r, fS + fG - fA, fm[HBF_ACC][3]),
                                           fm[HBF_ACC], s->cnt, HBF_SITE_W_UPDATE);
            s->ai[m * HBF_K + l] = hbf_fit(hbf_shl(s->wi[m * HBF_K + l], fA - fW)
                                           + hbf_rshift(lam * gw_i, fS + fG - fA, fm[HBF_ACC][3]),
                                           fm[HBF_ACC], s->cnt, HBF_SITE_W_UPDATE);
        }
    }
}

/* Codes [:, :K] of the channel phases (codes [:, K:] given), their table words, then eq. (13):
 * W_acc = (F^H F)^-1 F^H H (H^H H)^-1 and the normalisation. */
static void hbf_init_w(hbf_state *s, const int32_t *lc, const int32_t *ls, int64_t n_codes, hbf_fm_t fm)
{
    const int64_t fH = fm[HBF_CH][0], fL = fm[HBF_LUT][0], fA = fm[HBF_ACC][0];
    int64_t a_r[KK], a_i[KK], ainv_r[KK], ainv_i[KK], z_r[NK], z_i[NK];
    int64_t b_r[MM], b_i[MM], binv_r[MM], binv_i[MM], t_r[MK], t_i[MK];
    int64_t n, k, m;
    for (n = 0; n < HBF_N; n++) {
        for (k = 0; k < HBF_K; k++) {
            s->codes[n * HBF_M + k] = hbf_nearest_code(s->hr[n * HBF_K + k], s->hi[n * HBF_K + k], lc, ls, n_codes);
        }
        for (m = 0; m < HBF_M; m++) {
            s->fc[n * HBF_M + m] = lc[s->codes[n * HBF_M + m]];
            s->fs[n * HBF_M + m] = ls[s->codes[n * HBF_M + m]];
        }
    }
    hbf_gram(s->hr, s->hi, HBF_N, HBF_K, s->hr, s->hi, HBF_K, a_r, a_i, 2 * fH - fA, fm, s->cnt, HBF_SITE_INIT);
    hbf_cinv(a_r, a_i, HBF_K, ainv_r, ainv_i, fm, s->cnt, HBF_SITE_INIT);
    hbf_matmul(s->hr, s->hi, HBF_N, HBF_K, ainv_r, ainv_i, HBF_K, z_r, z_i, fH, fm, s->cnt, HBF_SITE_INIT);
    hbf_gram(s->fc, s->fs, HBF_N, HBF_M, s->fc, s->fs, HBF_M, b_r, b_i, 2 * fL - fA, fm, s->cnt, HBF_SITE_INIT);
    hbf_gram(s->fc, s->fs, HBF_N, HBF_M, z_r, z_i, HBF_K, t_r, t_i, fL, fm, s->cnt, HBF_SITE_INIT);
    hbf_cinv(b_r, b_i, HBF_M, binv_r, binv_i, fm, s->cnt, HBF_SITE_INIT);
    hbf_matmul(binv_r, binv_i, HBF_M, HBF_M, t_r, t_i, HBF_K, s->ar, s->ai, fA, fm, s->cnt, HBF_SITE_INIT);
    hbf_normalize(s->fc, s->fs, s->ar, s->ai, s->wr, s->wi, fm, s->cnt);
}

#if HBF_OUTPUT_XI >= 0
/* The output stage: W = (G^H G + xi' s2' F^H F)^-1 G^H with G = H^H F, block floating point
 * around the inverse, then eq. (9); leaves G in g_r/g_i (kernels/upga/_output.py output_fx). */
static void hbf_output_gain(const hbf_state *s, const int64_t *fc, const int64_t *fs, int64_t *wr, int64_t *wi,
                            hbf_fm_t fm, uint32_t *cnt, int64_t *g_r, int64_t *g_i)
{
    const int64_t fH = fm[HBF_CH][0], fL = fm[HBF_LUT][0], fA = fm[HBF_ACC][0], fS = fm[HBF_STP][0];
    const int64_t mode = fm[HBF_ACC][3];
    int64_t a_r[MM], a_i[MM], b_r[MM], b_i[MM], ainv_r[MM], ainv_i[MM], gh_r[MK], gh_i[MK], w_r[MK], w_i[MK];
    int64_t reg, d = 0, t = 0, bits, i, j, m, k;
    hbf_gram(s->hr, s->hi, HBF_N, HBF_K, fc, fs, HBF_M, g_r, g_i, fH + fL - fA, fm, cnt, HBF_SITE_OUTPUT);
    hbf_gram(g_r, g_i, HBF_K, HBF_M, g_r, g_i, HBF_M, a_r, a_i, fA, fm, cnt, HBF_SITE_OUTPUT);
    hbf_gram(fc, fs, HBF_N, HBF_M, fc, fs, HBF_M, b_r, b_i, 2 * fL - fA, fm, cnt, HBF_SITE_OUTPUT);
    reg = hbf_requant(HBF_OUTPUT_XI * s->noise, fS, fm[HBF_ACC], cnt, HBF_SITE_OUTPUT);
    for (i = 0; i < MM; i++) {
        a_r[i] = hbf_fit(a_r[i] + hbf_rshift(reg * b_r[i], fA, mode), fm[HBF_ACC], cnt, HBF_SITE_OUTPUT);
        a_i[i] = hbf_fit(a_i[i] + hbf_rshift(reg * b_i[i], fA, mode), fm[HBF_ACC], cnt, HBF_SITE_OUTPUT);
    }
    for (i = 0; i < HBF_M; i++) {
        d = hbf_max(d, a_r[i * HBF_M + i]);
    }
    if (d > 0) {
        bits = 0;
        while ((d >> bits) > 0) {
            bits += 1;
        }
        t = hbf_asr(bits - 1 - fA, 1);
    }
    for (i = 0; i < HBF_M; i++) {
        for (j = 0; j < HBF_M; j++) {
            a_r[i * HBF_M + j] = hbf_requant(a_r[i * HBF_M + j], 2 * t, fm[HBF_ACC], cnt, HBF_SITE_OUTPUT);
            a_i[i * HBF_M + j] = hbf_requant(a_i[i * HBF_M + j], 2 * t, fm[HBF_ACC], cnt, HBF_SITE_OUTPUT);
        }
    }
    for (m = 0; m < HBF_M; m++) {
        for (k = 0; k < HBF_K; k++) {
            gh_r[m * HBF_K + k] = hbf_requant(g_r[k * HBF_M + m], t, fm[HBF_ACC], cnt, HBF_SITE_OUTPUT);
            gh_i[m * HBF_K + k] = hbf_requant(-g_i[k * HBF_M + m], t, fm[HBF_ACC], cnt, HBF_SITE_OUTPUT);
        }
    }
    hbf_cinv(a_r, a_i, HBF_M, ainv_r, ainv_i, fm, cnt, HBF_SITE_OUTPUT);
    hbf_matmul(ainv_r, ainv_i, HBF_M, HBF_M, gh_r, gh_i, HBF_K, w_r, w_i, fA, fm, cnt, HBF_SITE_OUTPUT);
    hbf_normalize(fc, fs, w_r, w_i, wr, wi, fm, cnt);
}
#endif

/* Re-round W from f_from fraction bits into this layer's precoder format. */
static void hbf_convert_w(hbf_state *s, int64_t f_from, hbf_fm_t fm)
{
    int64_t m;
    for (m = 0; m < MK; m++) {
        s->wr[m] = hbf_requant(s->wr[m], f_from - fm[HBF_PRE][0], fm[HBF_PRE], s->cnt, HBF_SITE_W);
        s->wi[m] = hbf_requant(s->wi[m], f_from - fm[HBF_PRE][0], fm[HBF_PRE], s->cnt, HBF_SITE_W);
    }
}

/* Layer i's format rows, W re-rounded into them if its precoder format differs from layer i-1's. */
static hbf_fm_t hbf_enter_layer(hbf_state *s, int64_t i)
{
    if (i > 0 && (hbf_formats[i - 1][HBF_PRE][0] != hbf_formats[i][HBF_PRE][0]
                  || hbf_formats[i - 1][HBF_PRE][2] != hbf_formats[i][HBF_PRE][2])) {
        hbf_convert_w(s, hbf_formats[i - 1][HBF_PRE][0], hbf_formats[i]);
    }
    return hbf_formats[i];
}

/* Is x a word of the format row fmt? */
static int hbf_in_format(int64_t x, const int64_t *fmt)
{
    return x >= fmt[1] && x <= fmt[2];
}

/* Check and load one channel: H words (channel format), scalars[0] the noise word (accumulator
 * format, >= 1), scalars[1..HBF_LAYERS] the W steps (step format), any further scalars in the
 * step format; zero the counters.  0 if a word lies outside its format. */
static int hbf_load(hbf_state *s, const int32_t *h_re, const int32_t *h_im, const int32_t *scalars)
{
    int64_t i;
    for (i = 0; i < NK; i++) {
        if (!hbf_in_format(h_re[i], hbf_formats[0][HBF_CH]) || !hbf_in_format(h_im[i], hbf_formats[0][HBF_CH])) {
            return 0;
        }
        s->hr[i] = h_re[i];
        s->hi[i] = h_im[i];
    }
    if (scalars[0] < 1 || !hbf_in_format(scalars[0], hbf_formats[0][HBF_ACC])) {
        return 0;
    }
    for (i = 1; i < HBF_SCALARS; i++) {
        if (!hbf_in_format(scalars[i], hbf_formats[0][HBF_STP])) {
            return 0;
        }
    }
    s->noise = scalars[0];
    for (i = 0; i < HBF_SITES; i++) {
        s->cnt[i] = 0;
    }
    return 1;
}

/* The outputs of one channel. */
static void hbf_store(const hbf_state *s, uint16_t *codes, int32_t *w_re, int32_t *w_im, uint32_t *counters)
{
    int64_t i;
    for (i = 0; i < NM; i++) {
        codes[i] = (uint16_t)s->codes[i];
    }
    for (i = 0; i < MK; i++) {
        w_re[i] = (int32_t)s->wr[i];
        w_im[i] = (int32_t)s->wi[i];
    }
    for (i = 0; i < HBF_SITES; i++) {
        counters[i] = s->cnt[i];
    }
}
