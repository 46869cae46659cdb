/*
 * AVX2 kernels over byte codes (quant.h): 32 codes per step, widened to
 * 16 bits, multiplied and summed in pairs into 32-bit lanes by vpmaddwd.
 * index/CMakeLists.txt compiles this file with -mavx2; quant.c hands out
 * the table only when the CPU has AVX2.
 */
#include <simde/x86/avx2.h>

#include "quant.h"

static inline simde__m256i widen_lo(simde__m256i v) {
  return simde_mm256_cvtepu8_epi16(simde_mm256_castsi256_si128(v));
}

static inline simde__m256i widen_hi(simde__m256i v) {
  return simde_mm256_cvtepu8_epi16(simde_mm256_extracti128_si256(v, 1));
}

static inline uint32_t hsum256(simde__m256i v) {
  simde__m128i s = simde_mm_add_epi32(simde_mm256_castsi256_si128(v),
                                      simde_mm256_extracti128_si256(v, 1));
  s = simde_mm_add_epi32(s, simde_mm_shuffle_epi32(s, 0x4E));
  s = simde_mm_add_epi32(s, simde_mm_shuffle_epi32(s, 0xB1));
  return (uint32_t)simde_mm_cvtsi128_si32(s);
}

static uint32_t avx2_l2sq(const uint8_t *a, const uint8_t *b, size_t n) {
  simde__m256i acc0 = simde_mm256_setzero_si256(), acc1 = acc0;
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    simde__m256i va = simde_mm256_loadu_si256((const void *)(a + i));
    simde__m256i vb = simde_mm256_loadu_si256((const void *)(b + i));
    simde__m256i d0 = simde_mm256_sub_epi16(widen_lo(va), widen_lo(vb));
    simde__m256i d1 = simde_mm256_sub_epi16(widen_hi(va), widen_hi(vb));
    acc0 = simde_mm256_add_epi32(acc0, simde_mm256_madd_epi16(d0, d0));
    acc1 = simde_mm256_add_epi32(acc1, simde_mm256_madd_epi16(d1, d1));
  }
  uint32_t sum = hsum256(simde_mm256_add_epi32(acc0, acc1));
  for (; i < n; i++) {
    int d = (int)a[i] - (int)b[i];
    sum += (uint32_t)(d * d);
  }
  return sum;
}

static uint32_t avx2_dot(const uint8_t *a, const uint8_t *b, size_t n) {
  simde__m256i acc0 = simde_mm256_setzero_si256(), acc1 = acc0;
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    simde__m256i va = simde_mm256_loadu_si256((const void *)(a + i));
    simde__m256i vb = simde_mm256_loadu_si256((const void *)(b + i));
    acc0 = simde_mm256_add_epi32(
        acc0, simde_mm256_madd_epi16(widen_lo(va), widen_lo(vb)));
    acc1 = simde_mm256_add_epi32(
        acc1, simde_mm256_madd_epi16(widen_hi(va), widen_hi(vb)));
  }
  uint32_t sum = hsum256(simde_mm256_add_epi32(acc0, acc1));
  for (; i < n; i++)
    sum += (uint32_t)a[i] * b[i];
  return sum;
}

const strata_u8_kernels strata_u8_kernels_avx2_table = {"avx2", avx2_l2sq,
                                                        avx2_dot};
