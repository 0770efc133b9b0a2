/* ---- Integer primitives of the bit-accurate datapath (hand-written; hbf-edge export/_core/c_src/fixed.c).
 *
 * The C twin of kernels/_core/fixed.py.  Everything is int64_t; the only operators are +, -, *,
 * integer / and % (made to floor, as Python's // and % do), comparisons and shifts of
 * non-negative values.  Shifts of negative values are avoided on purpose: a left shift of a
 * negative value is undefined in C99 and a right shift implementation-defined, so hbf_asr and
 * hbf_shl spell them out.  A format row is {frac_bits, min_int, max_int, rounding, saturate}. */

#define HBF_HALF_UP 0
#define HBF_HALF_EVEN 1
#define HBF_FLOOR 2

/* floor(x / 2^s), 0 <= s <= 62: the arithmetic right shift, portable. */
static int64_t hbf_asr(int64_t x, int64_t s)
{
    return x >= 0 ? (x >> s) : ~((~x) >> s);
}

/* x * 2^s, 0 <= s <= 62, exact for values that fit (no shift of a negative value). */
static int64_t hbf_shl(int64_t x, int64_t s)
{
    return x * ((int64_t)1 << s);
}

/* floor(a / b) for b > 0 (Python's a // b). */
static int64_t hbf_floordiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if (a % b != 0 && a < 0) {
        q -= 1;
    }
    return q;
}

/* a mod b in 0..b-1 for b > 0 (Python's a % b). */
static int64_t hbf_floormod(int64_t a, int64_t b)
{
    int64_t r = a % b;
    return r < 0 ? r + b : r;
}

static int64_t hbf_abs(int64_t x)
{
    return x < 0 ? -x : x;
}

static int64_t hbf_max(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

/* x * 2^-s rounded by mode (s <= 0: an exact left shift): kernels/_core/fixed.py rshift. */
static int64_t hbf_rshift(int64_t x, int64_t s, int64_t mode)
{
    int64_t q, r, half;
    if (s <= 0) {
        return hbf_shl(x, -s);
    }
    if (mode == HBF_FLOOR) {
        return hbf_asr(x, s);
    }
    if (mode == HBF_HALF_UP) {
        return hbf_asr(x + ((int64_t)1 << (s - 1)), s);
    }
    q = hbf_asr(x, s);
    r = x - hbf_shl(q, s);
    half = (int64_t)1 << (s - 1);
    if (r > half || (r == half && q % 2 != 0)) {
        q += 1;
    }
    return q;
}

/* Saturate (or wrap) x into the word of fmt; count an overflow in cnt[site]. */
static int64_t hbf_fit(int64_t x, const int64_t *fmt, uint32_t *cnt, int site)
{
    int64_t lo = fmt[1], hi = fmt[2];
    if (x > hi || x < lo) {
        cnt[site] += 1;
        if (fmt[4] != 0) {
            return x > hi ? hi : lo;
        }
        return hbf_floormod(x - lo, hi - lo + 1) + lo;
    }
    return x;
}

/* Round x down by s fraction bits with fmt's rule, then fit it into fmt. */
static int64_t hbf_requant(int64_t x, int64_t s, const int64_t *fmt, uint32_t *cnt, int site)
{
    return hbf_fit(hbf_rshift(x, s, fmt[3]), fmt, cnt, site);
}

/* num / den rounded by mode (den != 0), integer division only. */
static int64_t hbf_div_round(int64_t num, int64_t den, int64_t mode)
{
    int64_t q, r;
    if (den < 0) {
        num = -num;
        den = -den;
    }
    if (mode == HBF_FLOOR) {
        return hbf_floordiv(num, den);
    }
    if (mode == HBF_HALF_UP) {
        return hbf_floordiv(2 * num + den, 2 * den);
    }
    q = hbf_floordiv(num, den);
    r = num - q * den;
    if (2 * r > den || (2 * r == den && q % 2 != 0)) {
        q += 1;
    }
    return q;
}

/* floor(sqrt(n)) for 0 <= n < 2^62, digit by digit. */
static int64_t hbf_isqrt(int64_t n)
{
    int64_t bit = (int64_t)1 << 62, r = 0;
    if (n <= 0) {
        return 0;
    }
    while (bit > n) {
        bit >>= 2;
    }
    while (bit != 0) {
        if (n >= r + bit) {
            n -= r + bit;
            r = (r >> 1) + bit;
        } else {
            r >>= 1;
        }
        bit >>= 2;
    }
    return r;
}

/* Nearest phase code of (xr, xi) in the table lc/ls of n codes (a power of two):
 * argmax_c xr cos_c + xi sin_c, ties counter-clockwise; (0, 0) is code 0.
 * kernels/_core/fixed.py nearest_code holds the reasoning. */
static int64_t hbf_nearest_code(int64_t xr, int64_t xi, const int32_t *lc, const int32_t *ls, int64_t n)
{
    uint32_t mask = (uint32_t)(n - 1);
    int64_t q, per, lo, hi, mid, c0, best = 0, best_p = 0, p, t, c, step;
    if (xr == 0 && xi == 0) {
        return 0;
    }
    if (n == 2) {
        int64_t p0 = xr * lc[0] + xi * ls[0];
        int64_t p1 = xr * lc[1] + xi * ls[1];
        if (p0 != p1) {
            return p0 > p1 ? 0 : 1;
        }
        return xi > 0 ? 1 : 0;
    }
    if (xr > 0 && xi >= 0) {
        q = 0;
    } else if (xr <= 0 && xi > 0) {
        q = 1;
    } else if (xr < 0 && xi <= 0) {
        q = 2;
    } else {
        q = 3;
    }
    per = n / 4;
    lo = q * per;
    hi = lo + per - 1;
    while (lo < hi) {
        mid = (lo + hi + 1) / 2;
        if (lc[mid] * xi - ls[mid] * xr >= 0) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    c0 = lo;
    for (t = 0; t < 4; t++) {
        c = (int64_t)((uint32_t)(c0 - 1 + t) & mask);
        p = xr * lc[c] + xi * ls[c];
        if (t == 0 || p >= best_p) {
            best = c;
            best_p = p;
        }
    }
    for (step = 0; step < n; step++) {
        c = (int64_t)((uint32_t)(best + 1) & mask);
        if (xr * lc[c] + xi * ls[c] != best_p) {
            break;
        }
        best = c;
    }
    return best;
}
