/* Sample arithmetic for the audio paths (see howdy/audio_dsp.h). */
#include "howdy/audio_dsp.h"


/* 10^(i/20) in Q15 for i = 0..19 dB; whole decades are applied by *10 or /10,
 * so any integer dB is exact to the rounding of one table entry. */
static const uint32_t k_db_q15[20] = {
    32768,  36766,  41252,  46286,  51934,  58271,  65381,  73358,  82309,  92353,
    103622, 116265, 130452, 146369, 164229, 184268, 206752, 231980, 260285, 292045,
};

int32_t howdy_gain_db_to_q15(int32_t db) {
  if (db > 40) db = 40;
  if (db < -90) db = -90;
  uint32_t mag = (uint32_t)(db < 0 ? -db : db);
  uint64_t up = k_db_q15[mag % 20u];
  for (uint32_t k = 0; k < mag / 20u; k++) up *= 10u;
  if (db >= 0) return (int32_t)up;
  /* 10^(-x) = 1 / 10^(x): 32768 * 32768 / up, rounded. */
  return (int32_t)(((uint64_t)HOWDY_Q15_ONE * HOWDY_Q15_ONE + up / 2u) / up);
}

/* Arithmetic shift right that rounds toward minus infinity for negative
 * values too, without relying on implementation-defined >> of signed. */
static int64_t shift_floor(int64_t v, unsigned s) {
  return v >= 0 ? (int64_t)((uint64_t)v >> s) : -(int64_t)(((uint64_t)(-(v + 1)) >> s)) - 1;
}

int16_t howdy_apply_gain_q15(int16_t x, int32_t gain_q15) {
  int64_t y = shift_floor((int64_t)x * gain_q15 + (HOWDY_Q15_ONE / 2), 15);
  if (y > INT16_MAX) return INT16_MAX;
  if (y < INT16_MIN) return INT16_MIN;
  return (int16_t)y;
}

/* log2(x) in Q16 for x >= 1: the integer part from the highest set bit, the
 * fraction bit by bit by squaring the mantissa (kept in [1, 2) as Q30). */
static int64_t log2_q16(uint64_t x) {
  int ip = 63 - __builtin_clzll(x);
  uint64_t mant; /* Q30 */
  if (ip >= 30) {
    mant = x >> (ip - 30);
  } else {
    mant = x << (30 - ip);
  }
  int64_t result = (int64_t)ip << 16;
  for (int bit = 15; bit >= 0; bit--) {
    mant = (mant * mant) >> 30;
    if (mant >= (2ull << 30)) {
      mant >>= 1;
      result |= (int64_t)1 << bit;
    }
  }
  return result;
}

/* Rounded division for a signed numerator and positive denominator. */
static int32_t div_round(int64_t num, int64_t den) {
  return (int32_t)(num >= 0 ? (num + den / 2) / den : -((-num + den / 2) / den));
}

howdy_level_t howdy_level_measure(const int16_t *pcm, uint32_t samples) {
  howdy_level_t lv = {HOWDY_LEVEL_FLOOR_CDB, HOWDY_LEVEL_FLOOR_CDB};
  uint64_t sum_sq = 0;
  uint32_t peak = 0;
  for (uint32_t i = 0; i < samples; i++) {
    int32_t s = pcm[i];
    uint32_t a = (uint32_t)(s < 0 ? -s : s);
    if (a > peak) peak = a;
    sum_sq += (uint64_t)((int64_t)s * s);
  }
  if (peak == 0 || samples == 0) return lv;
  /* peak dBFS = 20 log10(peak / 32768) = 20 log10(2) * (log2(peak) - 15);
   * 20 log10(2) = 6.0206 dB = 60206 / 10000 in hundredths of a dB. */
  int64_t l_peak = log2_q16(peak) - ((int64_t)15 << 16);
  lv.peak_cdb = div_round(l_peak * 60206, (int64_t)10000 * 65536 / 100);
  /* rms dBFS = 10 log10(mean square / 32768^2) = 10 log10(2) * (log2(sum) -
   * log2(n) - 30); a full-scale square wave reads 0 dBFS, a sine -3.01. */
  int64_t l_rms = log2_q16(sum_sq) - log2_q16(samples) - ((int64_t)30 << 16);
  lv.rms_cdb = div_round(l_rms * 30103, (int64_t)10000 * 65536 / 100);
  if (lv.rms_cdb < HOWDY_LEVEL_FLOOR_CDB) lv.rms_cdb = HOWDY_LEVEL_FLOOR_CDB;
  return lv;
}

int32_t howdy_volume_percent_to_q15(float percent) {
  /* NaN fails both comparisons: treat it as silence rather than full blast. */
  if (!(percent > 0.0f)) return 0;
  if (percent >= 100.0f) return HOWDY_Q15_ONE;
  float v = percent / 100.0f;
  return (int32_t)(v * v * v * (float)HOWDY_Q15_ONE + 0.5f);
}
