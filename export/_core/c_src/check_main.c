/* hbf-edge test harness of the generated C datapath (hand-written; export/upga/c_src/check_main.c).
 *
 * Reads channels from stdin and writes the designs to stdout, all little-endian 32-bit words.
 * Per channel in:  h_re[N*K], h_im[N*K] (channel words, row n, column k), then the HBF_SCALARS
 *                  scalar words hbf_model.h lists (the noise word first).
 * Per channel out: the status of hbf_design, codes[N*M], w_re[M*K], w_im[M*K] (precoder words),
 *                  counters[SITES] (overflow events per site, unsigned).
 * Exit status 0 if every channel was read whole, 1 on a truncated input or a write error. */
#include <stdio.h>

#include "hbf_model.h"

#define IN_WORDS (2 * HBF_N * HBF_K + HBF_SCALARS)
#define OUT_WORDS (1 + HBF_N * HBF_M + 2 * HBF_M * HBF_K + HBF_SITES)

int main(void)
{
    int32_t in[IN_WORDS], out[OUT_WORDS];
    uint16_t codes[HBF_N * HBF_M];
    uint32_t counters[HBF_SITES];
    size_t got;
    int i;
    for (;;) {
        got = fread(in, sizeof in[0], IN_WORDS, stdin);
        if (got == 0 && feof(stdin)) {
            return 0;
        }
        if (got != IN_WORDS) {
            fprintf(stderr, "hbf_check: truncated input (%u of %u words)\n", (unsigned)got, (unsigned)IN_WORDS);
            return 1;
        }
        out[0] = hbf_design(in, in + HBF_N * HBF_K, in + 2 * HBF_N * HBF_K, codes,
                            out + 1 + HBF_N * HBF_M, out + 1 + HBF_N * HBF_M + HBF_M * HBF_K, counters);
        for (i = 0; i < HBF_N * HBF_M; i++) {
            out[1 + i] = codes[i];
        }
        for (i = 0; i < HBF_SITES; i++) {
            out[1 + HBF_N * HBF_M + 2 * HBF_M * HBF_K + i] = (int32_t)counters[i];
        }
        if (fwrite(out, sizeof out[0], OUT_WORDS, stdout) != OUT_WORDS) {
            fprintf(stderr, "hbf_check: write error\n");
            return 1;
        }
    }
}
