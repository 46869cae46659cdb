/*
 * AVX-512BW kernels over byte codes (quant.h): 64 codes per step,
 * zero-extended to 16 bits, multiplied and summed in pairs into 32-bit lanes
 * by vpmaddwd.  index/CMakeLists.txt compiles this file with -mavx512f
 * -mavx512bw; quant.c hands out the table only when the CPU has both.
 */
#include <simde/x86/avx512.h>

#include "quant.h"

/* Zero-extend the low or high 8 bytes of each 128-bit lane to 16 bits.
 * The lanes come out in another order than the bytes went in, but both
 * inputs are widened alike and only the sum is kept. */
static inline simde__m512i widen_lo(simde__m512i v) {
  return simde_mm512_unpacklo_epi8(v, simde_mm512_setzero_si512());
}

static inline simde__m512i widen_hi(simde__m512i v) {
  return simde_mm512_unpackhi_epi8(v, simde_mm512_setzero_si512());
}

static inline uint32_t hsum512(simde__m512i v) {
  simde__m256i s = simde_mm256_add_epi32(simde_mm512_castsi512_si256(v),
                                         simde_mm512_extracti64x4_epi64(v, 1));
  simde__m128i x = simde_mm_add_epi32(simde_mm256_castsi256_si128(s),
                                      simde_mm256_extracti128_si256(s, 1));
  x = simde_mm_add_epi32(x, simde_mm_shuffle_epi32(x, 0x4E));
  x = simde_mm_add_epi32(x, simde_mm_shuffle_epi32(x, 0xB1));
  return (uint32_t)simde_mm_cvtsi128_si32(x);
}

static uint32_t avx512_l2sq(const uint8_t *a, const uint8_t *b, size_t n) {
  simde__m512i acc0 = simde_mm512_setzero_si512(), acc1 = acc0;
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    simde__m512i va = simde_mm512_loadu_si512((const void *)(a + i));
    simde__m512i vb = simde_mm512_loadu_si512((const void *)(b + i));
    simde__m512i d0 = simde_mm512_sub_epi16(widen_lo(va), widen_lo(vb));
    simde__m512i d1 = simde_mm512_sub_epi16(widen_hi(va), widen_hi(vb));
    acc0 = simde_mm512_add_epi32(acc0, simde_mm512_madd_epi16(d0, d0));
    acc1 = simde_mm512_add_epi32(acc1, simde_mm512_madd_epi16(d1, d1));
  }
  uint32_t sum = hsum512(simde_mm512_add_epi32(acc0, acc1));
  for (; i < n; i++) {
    int d = (int)a[i] - (int)b[i];
    sum += (uint32_t)(d * d);
  }
  return sum;
}

static uint32_t avx512_dot(const uint8_t *a, const uint8_t *b, size_t n) {
  simde__m512i acc0 = simde_mm512_setzero_si512(), acc1 = acc0;
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    simde__m512i va = simde_mm512_loadu_si512((const void *)(a + i));
    simde__m512i vb = simde_mm512_loadu_si512((const void *)(b + i));
    acc0 = simde_mm512_add_epi32(
        acc0, simde_mm512_madd_epi16(widen_lo(va), widen_lo(vb)));
    acc1 = simde_mm512_add_epi32(
        acc1, simde_mm512_madd_epi16(widen_hi(va), widen_hi(vb)));
  }
  uint32_t sum = hsum512(simde_mm512_add_epi32(acc0, acc1));
  for (; i < n; i++)
    sum += (uint32_t)a[i] * b[i];
  return sum;
}

const strata_u8_kernels strata_u8_kernels_avx512_table = {
    "avx512", avx512_l2sq, avx512_dot};
