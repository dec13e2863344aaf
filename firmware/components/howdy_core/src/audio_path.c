/* Wiring of the audio path (see howdy/audio_path.h). */
#include "howdy/audio_path.h"

void howdy_audio_path_init(howdy_audio_path_t *a, howdy_clock_fn clock, void *clock_ctx) {
  howdy_pool_init(&a->pool);
  howdy_audio_metrics_init(&a->metrics, &a->pool);
  howdy_mic_init(&a->mic, &a->metrics, clock, clock_ctx);
  howdy_speaker_init(&a->speaker, &a->pool, &a->metrics, clock, clock_ctx);
}
