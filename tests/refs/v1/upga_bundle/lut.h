/* hbf-edge lookup tables (generated; do not edit). Formats are in the comments. */
#ifndef HBF_EDGE_LUT_H
#define HBF_EDGE_LUT_H
#include <stdint.h>

#define HBF_N 8
#define HBF_M 2
#define HBF_K 2
#define HBF_LAYERS 2
#define HBF_INNER 1
#define HBF_PHASE_BITS 3
#define HBF_N_CODES 8
#define HBF_CHANNEL_WORD_BITS 16
#define HBF_CHANNEL_FRAC_BITS 12
#define HBF_LUT_WORD_BITS 12
#define HBF_LUT_FRAC_BITS 10
#define HBF_GRADIENT_WORD_BITS 24
#define HBF_GRADIENT_FRAC_BITS 16
#define HBF_STEP_WORD_BITS 32
#define HBF_STEP_FRAC_BITS 24
#define HBF_ACCUMULATOR_WORD_BITS 32
#define HBF_ACCUMULATOR_FRAC_BITS 16
#define HBF_PRECODER_WORD_BITS 12
#define HBF_PRECODER_FRAC_BITS 10

/* code -> cos(2 pi c / 2^3), lut format: signed Q2.10 (12 bits), value = word * 2^-10, rounding half_up, saturating */
static const int16_t hbf_cos[8] = {1024, 724, 0, -724, -1024, -724, 0, 724};

/* code -> sin, same format */
static const int16_t hbf_sin[8] = {0, 724, 1024, 724, 0, -724, -1024, -724};

/* code -> vector-modulator I register: bit 5 polarity (1 = positive), bits 4..0 magnitude round(|x| * 31) */
static const uint8_t hbf_vm_i[8] = {63, 54, 32, 22, 31, 22, 32, 54};

/* code -> vector-modulator Q register, same layout */
static const uint8_t hbf_vm_q[8] = {32, 54, 63, 54, 32, 22, 31, 22};

/* layer 0: 3-bit table (cos) */
static const int16_t hbf_cos_layer0[8] = {1024, 724, 0, -724, -1024, -724, 0, 724};

/* layer 0: 3-bit table (sin) */
static const int16_t hbf_sin_layer0[8] = {0, 724, 1024, 724, 0, -724, -1024, -724};

/* layer 1: 3-bit table (cos) */
static const int16_t hbf_cos_layer1[8] = {1024, 724, 0, -724, -1024, -724, 0, 724};

/* layer 1: 3-bit table (sin) */
static const int16_t hbf_sin_layer1[8] = {0, 724, 1024, 724, 0, -724, -1024, -724};

/* mu[i * HBF_INNER + j], step format: signed Q8.24 (32 bits), value = word * 2^-24, rounding half_up, saturating */
static const int32_t hbf_mu[2] = {200564, 200549};

/* lambda[i], step format; the datapath uses lambda_i * N / P_t per channel (and the noise s2 * N / P_t): the host scales by N / P_t before loading */
static const int32_t hbf_lam[2] = {33299, 33322};

#endif /* HBF_EDGE_LUT_H */
