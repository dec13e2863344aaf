/*
 * Integer sample arithmetic shared by the microphone and speaker paths:
 * gains in Q15, the volume curve, and the frame level meter. No libm: the
 * core must not depend on float transcendental functions, and integer math
 * gives the same result on the device and in the simulator.
 */
#ifndef HOWDY_AUDIO_DSP_H
#define HOWDY_AUDIO_DSP_H

#include <stdint.h>

#include "howdy/audio_types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Level in hundredths of a dB relative to full scale. Digital silence reads
 * HOWDY_LEVEL_FLOOR_CDB (a single LSB peak already reads -90.31 dBFS). */
#define HOWDY_LEVEL_FLOOR_CDB (-10000)
typedef struct {
  int32_t rms_cdb;  /* full-scale square wave 0, full-scale sine -301 */
  int32_t peak_cdb; /* |x| = 32768 reads 0 */
} howdy_level_t;

/* 10^(db/20) in Q15 for integer db, clamped to -90..+40 dB; 0 dB gives
 * exactly HOWDY_Q15_ONE. */
int32_t howdy_gain_db_to_q15(int32_t db);
/* x * gain_q15 / 32768 rounded to nearest (halves up), saturated to the s16
 * range. HOWDY_Q15_ONE returns x unchanged, 0 returns 0. */
int16_t howdy_apply_gain_q15(int16_t x, int32_t gain_q15);
/* Volume 0..100 % to a Q15 factor along a cubic curve, (v/100)^3. A linear
 * slider crams the audible range into its bottom quarter; the cube spreads it
 * out (50 % is -18 dB, 10 % is -60 dB) so equal steps sound like similar
 * steps. 100 % is exactly HOWDY_Q15_ONE (bit-exact passthrough) and 0 %
 * exactly 0. Out-of-range values clamp, NaN is 0. */
int32_t howdy_volume_percent_to_q15(float percent);
howdy_level_t howdy_level_measure(const int16_t *pcm, uint32_t samples);

#ifdef __cplusplus
}
#endif

#endif /* HOWDY_AUDIO_DSP_H */
