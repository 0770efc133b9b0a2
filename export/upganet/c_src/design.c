/* ---- UPGANet's hbf_design (hand-written; hbf-edge export/upganet/c_src/design.c), the C twin of
 * kernels/upganet/_fixed.py: the UPGA datapath (datapath.c) with the sensing term of the
 * UPGANet paper (eq. 12-15), in the same formats, order and counter sites. */

/* X = F W_hw (accumulator) into xr/xi [N, K] and Y = X (X^H X) - Psi_n X (accumulator) into
 * yr/yi [N, K]: the residual of eq. (12)-(13) up to rho^3. */
static void hbf_residual(hbf_state *s, hbf_fm_t fm, int64_t *xr, int64_t *xi, int64_t *yr, int64_t *yi)
{
    const int64_t fH = fm[HBF_CH][0], fL = fm[HBF_LUT][0], fA = fm[HBF_ACC][0], fW = fm[HBF_PRE][0];
    const int64_t mode = fm[HBF_ACC][3];
    int64_t qr[KK], qi[KK], n, k, l, m, sr, si, pr, pi;
    for (n = 0; n < HBF_N; n++) {
        for (k = 0; k < HBF_K; k++) {
            sr = 0;
            si = 0;
            for (m = 0; m < HBF_M; m++) {
                sr += s->fc[n * HBF_M + m] * s->wr[m * HBF_K + k] - s->fs[n * HBF_M + m] * s->wi[m * HBF_K + k];
                si += s->fc[n * HBF_M + m] * s->wi[m * HBF_K + k] + s->fs[n * HBF_M + m] * s->wr[m * HBF_K + k];
            }
            xr[n * HBF_K + k] = hbf_requant(sr, fL + fW - fA, fm[HBF_ACC], s->cnt, HBF_SITE_X);
            xi[n * HBF_K + k] = hbf_requant(si, fL + fW - fA, fm[HBF_ACC], s->cnt, HBF_SITE_X);
        }
    }
    for (k = 0; k < HBF_K; k++) { /* Q = X^H X */
        for (l = 0; l < HBF_K; l++) {
            sr = 0;
            si = 0;
            for (n = 0; n < HBF_N; n++) {
                sr += xr[n * HBF_K + k] * xr[n * HBF_K + l] + xi[n * HBF_K + k] * xi[n * HBF_K + l];
                si += xr[n * HBF_K + k] * xi[n * HBF_K + l] - xi[n * HBF_K + k] * xr[n * HBF_K + l];
            }
            qr[k * HBF_K + l] = hbf_requant(sr, fA, fm[HBF_ACC], s->cnt, HBF_SITE_Y);
            qi[k * HBF_K + l] = hbf_requant(si, fA, fm[HBF_ACC], s->cnt, HBF_SITE_Y);
        }
    }
    for (n = 0; n < HBF_N; n++) {
        for (k = 0; k < HBF_K; k++) {
            sr = 0;
            si = 0;
            for (l = 0; l < HBF_K; l++) {
                sr += xr[n * HBF_K + l] * qr[l * HBF_K + k] - xi[n * HBF_K + l] * qi[l * HBF_K + k];
                si += xr[n * HBF_K + l] * qi[l * HBF_K + k] + xi[n * HBF_K + l] * qr[l * HBF_K + k];
            }
            pr = 0;
            pi = 0;
            for (m = 0; m < HBF_N; m++) {
                pr += hbf_psi_re[n][m] * xr[m * HBF_K + k] - hbf_psi_im[n][m] * xi[m * HBF_K + k];
                pi += hbf_psi_re[n][m] * xi[m * HBF_K + k] + hbf_psi_im[n][m] * xr[m * HBF_K + k];
            }
            yr[n * HBF_K + k] = hbf_fit(hbf_rshift(sr, fA, mode) - hbf_rshift(pr, fH, mode), fm[HBF_ACC], s->cnt,
                                        HBF_SITE_Y);
            yi[n * HBF_K + k] = hbf_fit(hbf_rshift(si, fA, mode) - hbf_rshift(pi, fH, mode), fm[HBF_ACC], s->cnt,
                                        HBF_SITE_Y);
        }
    }
}

/* The sensing term of eq. (14b) in the gradient format's units: kappa_F Y W_hw^H, with
 * T = Y W_hw^H stored in the accumulator format, into tr/ti [N, M]. */
static void hbf_sense_f(hbf_state *s, const int64_t *yr, const int64_t *yi, int64_t kf, hbf_fm_t fm, int64_t *tr,
                        int64_t *ti)
{
    const int64_t fA = fm[HBF_ACC][0], fG = fm[HBF_GRD][0], fS = fm[HBF_STP][0], fW = fm[HBF_PRE][0];
    int64_t n, m, l, sr, si;
    for (n = 0; n < HBF_N; n++) {
        for (m = 0; m < HBF_M; m++) {
            sr = 0;
            si = 0;
            for (l = 0; l < HBF_K; l++) {
                sr += yr[n * HBF_K + l] * s->wr[m * HBF_K + l] + yi[n * HBF_K + l] * s->wi[m * HBF_K + l];
                si += yi[n * HBF_K + l] * s->wr[m * HBF_K + l] - yr[n * HBF_K + l] * s->wi[m * HBF_K + l];
            }
            tr[n * HBF_M + m] = hbf_rshift(kf * hbf_requant(sr, fW, fm[HBF_ACC], s->cnt, HBF_SITE_SENSE_F),
                                           fS + fA - fG, fm[HBF_GRD][3]);
            ti[n * HBF_M + m] = hbf_rshift(kf * hbf_requant(si, fW, fm[HBF_ACC], s->cnt, HBF_SITE_SENSE_F),
                                           fS + fA - fG, fm[HBF_GRD][3]);
        }
    }
}

/* The sensing term of eq. (15) in the gradient format's units: kappa_W F^H Y, with F^H Y stored
 * in the accumulator format, into vr/vi [M, K]. */
static void hbf_sense_w(hbf_state *s, const int64_t *yr, const int64_t *yi, int64_t kw, hbf_fm_t fm, int64_t *vr,
                        int64_t *vi)
{
    const int64_t fL = fm[HBF_LUT][0], fA = fm[HBF_ACC][0], fG = fm[HBF_GRD][0], fS = fm[HBF_STP][0];
    int64_t n, m, l, sr, si;
    for (m = 0; m < HBF_M; m++) {
        for (l = 0; l < HBF_K; l++) {
            sr = 0;
            si = 0;
            for (n = 0; n < HBF_N; n++) {
                sr += s->fc[n * HBF_M + m] * yr[n * HBF_K + l] + s->fs[n * HBF_M + m] * yi[n * HBF_K + l];
                si += s->fc[n * HBF_M + m] * yi[n * HBF_K + l] - s->fs[n * HBF_M + m] * yr[n * HBF_K + l];
            }
            vr[m * HBF_K + l] = hbf_rshift(kw * hbf_requant(sr, fL, fm[HBF_ACC], s->cnt, HBF_SITE_SENSE_W),
                                           fS + fA - fG, fm[HBF_GRD][3]);
            vi[m * HBF_K + l] = hbf_rshift(kw * hbf_requant(si, fL, fm[HBF_ACC], s->cnt, HBF_SITE_SENSE_W),
                                           fS + fA - fG, fm[HBF_GRD][3]);
        }
    }
}

int hbf_design(const int32_t h_re[HBF_N * HBF_K], const int32_t h_im[HBF_N * HBF_K],
               const int32_t scalars[HBF_SCALARS], uint16_t codes[HBF_N * HBF_M], int32_t w_re[HBF_M * HBF_K],
               int32_t w_im[HBF_M * HBF_K], uint32_t counters[HBF_SITES])
{
    hbf_state s;
    int64_t xr[NK], xi[NK], yr[NK], yi[NK], tr[NM], ti[NM], vr[MK], vi[MK];
    const int32_t *lam = scalars + 1;
    const int64_t kf = scalars[1 + HBF_LAYERS], kw = scalars[2 + HBF_LAYERS];
    int64_t i, j, n, m;
    if (!hbf_load(&s, h_re, h_im, scalars)) {
        return HBF_EINPUT;
    }
    for (n = 0; n < HBF_N; n++) { /* eq. (17): the targets' steering codes on RF chains K..M-1 */
        for (m = HBF_K; m < HBF_M; m++) {
            s.codes[n * HBF_M + m] = hbf_steer_codes[n * (HBF_M - HBF_K) + m - HBF_K];
        }
    }
    hbf_init_w(&s, hbf_lut_cos[0], hbf_lut_sin[0], hbf_n_codes[0], hbf_formats[0]);
    for (i = 0; i < HBF_LAYERS; i++) {
        hbf_fm_t fm = hbf_enter_layer(&s, i);
        for (j = 0; j < HBF_INNER; j++) { /* eq. (14b), then (7): unit circle, the code book after the last */
            hbf_weighted_e(&s, fm);
            hbf_d(&s, fm);
            hbf_residual(&s, fm, xr, xi, yr, yi);
            hbf_sense_f(&s, yr, yi, kf, fm, tr, ti);
            hbf_f_update(&s, hbf_lut_cos[i], hbf_lut_sin[i], hbf_n_codes[i], hbf_mu[i][j], fm, tr, ti,
                         j == HBF_INNER - 1);
        }
        hbf_weighted_e(&s, fm); /* eq. (15), then (9) */
        hbf_residual(&s, fm, xr, xi, yr, yi);
        hbf_sense_w(&s, yr, yi, kw, fm, vr, vi);
        hbf_w_update(&s, lam[i], fm, vr, vi);
        hbf_normalize(s.fc, s.fs, s.ar, s.ai, s.wr, s.wi, fm, s.cnt);
    }
    hbf_store(&s, codes, w_re, w_im, counters);
    return 0;
}
