/* ---- UPGA's hbf_design (hand-written; hbf-edge export/upga/c_src/design.c): the code search of
 * kernels/upga/_search.py and the forward of kernels/upga/_batch.py forward_fx_batch. */

/* Eq. (12)-(13): the DFT codes of RF chains K..M-1, nearest code of -2 pi n (m-K) / N. */
static void hbf_init(hbf_state *s, const int32_t *lc, const int32_t *ls, int64_t n_codes, hbf_fm_t fm)
{
    int64_t n, m;
    for (n = 0; n < HBF_N; n++) {
        for (m = HBF_K; m < HBF_M; m++) {
            s->codes[n * HBF_M + m] = hbf_floormod(hbf_floordiv(-2 * n * (m - HBF_K) * n_codes + HBF_N, 2 * HBF_N),
                                                   n_codes);
        }
    }
    hbf_init_w(s, lc, ls, n_codes, fm);
}

#if HBF_SEARCH_SWEEPS > 0
/* log2(x) of x >= 1 in HBF_LOG_FRAC_BITS fraction bits: bit length and a table of the mantissa. */
static int64_t hbf_log2_fx(int64_t x)
{
    int64_t e = 0, idx;
    while ((x >> (e + 1)) > 0) {
        e += 1;
    }
    if (e >= HBF_LOG_INDEX_BITS) {
        idx = (x >> (e - HBF_LOG_INDEX_BITS)) - ((int64_t)1 << HBF_LOG_INDEX_BITS);
    } else {
        idx = (x << (HBF_LOG_INDEX_BITS - e)) - ((int64_t)1 << HBF_LOG_INDEX_BITS);
    }
    return e * ((int64_t)1 << HBF_LOG_FRAC_BITS) + hbf_log2_table[idx];
}

/* Sum rate of (F, W) from G = H^H F: sum_k log2(a_k) - log2(b_k) (eq. 4). */
static int64_t hbf_rate_score(const int64_t *gr, const int64_t *gi, const int64_t *wr, const int64_t *wi,
                              int64_t noise, hbf_fm_t fm, uint32_t *cnt)
{
    int64_t er[KK], ei[KK], score = 0, k, a, b;
    hbf_received(gr, gi, wr, wi, fm, cnt, er, ei);
    for (k = 0; k < HBF_K; k++) {
        hbf_user_powers(er, ei, k, noise, fm, cnt, &a, &b);
        score += hbf_log2_fx(hbf_max(a, 1)) - hbf_log2_fx(hbf_max(b, 1));
    }
    return score;
}

/* The code search over the last layer's codes (kernels/upga/_search.py), then the output stage. */
static void hbf_code_search(hbf_state *s, const int32_t *lc, const int32_t *ls, int64_t n_codes, hbf_fm_t fm)
{
    const uint32_t mask = (uint32_t)(n_codes - 1);
    const int64_t span = HBF_SEARCH_SPAN < n_codes / 2 ? HBF_SEARCH_SPAN : n_codes / 2;
    uint32_t scratch[HBF_SITES] = {0}; /* every site of an evaluation counts at "output" */
    int64_t gr[KM], gi[KM], tr[MK], ti[MK], best, best_c, cur, c, score, total = 0, sweep, m, n, d, sign, i;
    int changed;
    hbf_output_gain(s, s->fc, s->fs, tr, ti, fm, scratch, gr, gi);
    best = hbf_rate_score(gr, gi, tr, ti, s->noise, fm, scratch);
    for (sweep = 0; sweep < HBF_SEARCH_SWEEPS; sweep++) {
        changed = 0;
        for (m = 0; m < HBF_M; m++) {
            for (n = 0; n < HBF_N; n++) {
                cur = s->codes[n * HBF_M + m];
                best_c = cur;
                for (d = 1; d <= span; d++) {
                    for (sign = 0; sign < 2; sign++) {
                        const int64_t up = (int64_t)((uint32_t)(cur + d) & mask);
                        c = sign == 0 ? up : (int64_t)((uint32_t)(cur - d) & mask);
                        if (c == cur || (sign == 1 && c == up)) {
                            continue;
                        }
                        s->fc[n * HBF_M + m] = lc[c];
                        s->fs[n * HBF_M + m] = ls[c];
                        hbf_output_gain(s, s->fc, s->fs, tr, ti, fm, scratch, gr, gi);
                        score = hbf_rate_score(gr, gi, tr, ti, s->noise, fm, scratch);
                        if (score > best) {
                            best = score;
                            best_c = c;
                        }
                    }
                }
                s->codes[n * HBF_M + m] = best_c;
                s->fc[n * HBF_M + m] = lc[best_c];
                s->fs[n * HBF_M + m] = ls[best_c];
                if (best_c != cur) {
                    changed = 1;
                }
            }
        }
        if (!changed) {
            break;
        }
    }
    for (i = 0; i < HBF_SITES; i++) {
        total += scratch[i];
    }
    s->cnt[HBF_SITE_OUTPUT] += (uint32_t)total;
    hbf_output_gain(s, s->fc, s->fs, s->wr, s->wi, fm, s->cnt, gr, gi);
}
#endif

int hbf_design(const int32_t h_re[HBF_N * HBF_K], const int32_t h_im[HBF_N * HBF_K],
               const int32_t scalars[HBF_SCALARS], uint16_t codes[HBF_N * HBF_M], int32_t w_re[HBF_M * HBF_K],
               int32_t w_im[HBF_M * HBF_K], uint32_t counters[HBF_SITES])
{
    hbf_state s;
    const int32_t *lam = scalars + 1;
    const int last = HBF_LAYERS - 1;
    int64_t i, j;
    if (!hbf_load(&s, h_re, h_im, scalars)) {
        return HBF_EINPUT;
    }
    hbf_init(&s, hbf_lut_cos[0], hbf_lut_sin[0], hbf_n_codes[0], hbf_formats[0]);
    for (i = 0; i < HBF_LAYERS; i++) {
        hbf_fm_t fm = hbf_enter_layer(&s, i);
        for (j = 0; j < HBF_INNER; j++) { /* eq. (6)-(7) */
            hbf_weighted_e(&s, fm);
            hbf_d(&s, fm);
            hbf_f_update(&s, hbf_lut_cos[i], hbf_lut_sin[i], hbf_n_codes[i], hbf_mu[i][j], fm, NULL, NULL, 1);
        }
        hbf_weighted_e(&s, fm); /* eq. (8)-(9) */
        hbf_w_update(&s, lam[i], fm, NULL, NULL);
        hbf_normalize(s.fc, s.fs, s.ar, s.ai, s.wr, s.wi, fm, s.cnt);
    }
#if HBF_SEARCH_SWEEPS > 0
    for (i = 0; i < NM; i++) { /* the table words of the last layer's codes */
        s.fc[i] = hbf_lut_cos[last][s.codes[i]];
        s.fs[i] = hbf_lut_sin[last][s.codes[i]];
    }
    hbf_code_search(&s, hbf_lut_cos[last], hbf_lut_sin[last], hbf_n_codes[last], hbf_formats[last]);
#elif HBF_OUTPUT_XI >= 0
    hbf_output_gain(&s, s.fc, s.fs, s.wr, s.wi, hbf_formats[last], s.cnt, s.gr, s.gi);
#endif
    (void)last;
    hbf_store(&s, codes, w_re, w_im, counters);
    return 0;
}
