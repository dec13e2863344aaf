/*
 * The whole audio path in one object: pool, metrics, microphone and speaker
 * paths, wired together. The application declares one static instance (in
 * internal RAM on the device), so the audio path's RAM is fixed at link time
 * and shows up as one symbol in the size report; nothing on the path
 * allocates after howdy_audio_path_init.
 */
#ifndef HOWDY_AUDIO_PATH_H
#define HOWDY_AUDIO_PATH_H

#include "howdy/audio_metrics.h"
#include "howdy/audio_pool.h"
#include "howdy/audio_types.h"
#include "howdy/mic_path.h"
#include "howdy/speaker_path.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Issue 4 caps the static RAM of the audio path. */
#define HOWDY_AUDIO_RAM_BUDGET_BYTES (64u * 1024u)

typedef struct {
  howdy_pool_t pool;
  howdy_audio_metrics_t metrics;
  howdy_mic_t mic;
  howdy_speaker_t speaker;
} howdy_audio_path_t;

_Static_assert(sizeof(howdy_audio_path_t) <= HOWDY_AUDIO_RAM_BUDGET_BYTES,
               "the audio path exceeds its 64 KiB static RAM budget");

/* clock: the monotonic clock for frame processing times (howdy_time_us
 * through a wrapper on the device; a fake one in tests). */
void howdy_audio_path_init(howdy_audio_path_t *a, howdy_clock_fn clock, void *clock_ctx);

#ifdef __cplusplus
}
#endif

#endif /* HOWDY_AUDIO_PATH_H */
