/*
 * Metrics of the audio path, measured from timestamps and counters as the
 * audio flows (never from configuration).
 *
 * A howdy_stat_t summarises a stream of durations (microseconds): the last
 * value, and the average, maximum and 95th percentile over the last
 * HOWDY_METRICS_WINDOW values, plus the maximum since reset and the count.
 * The window is a fixed array inside the struct. Each stat has exactly one
 * writing task; the published figures are 32-bit atomics, so any other task
 * (the API server's entity readers) reads them without a lock. A reader may
 * see the figures of two consecutive updates mixed, never a torn number.
 *
 * Writers:
 *   mic_latency         network task, when a packet's bytes go to the socket
 *                       (howdy_mic_packet_sent)
 *   mic_frame_time      microphone task (howdy_mic_process)
 *   playback_latency    output task (howdy_speaker_tick)
 *   speaker_frame_time  output task (howdy_speaker_tick)
 *   underruns           output task
 *   mic_dropped         microphone task (packet queue full)
 *   overruns, pool hit rate and high water live in the pool's own counters.
 */
#ifndef HOWDY_AUDIO_METRICS_H
#define HOWDY_AUDIO_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "howdy/audio_pool.h"
#include "howdy/entities.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifndef HOWDY_METRICS_WINDOW
#define HOWDY_METRICS_WINDOW 64u
#endif
_Static_assert(HOWDY_METRICS_WINDOW >= 1 && HOWDY_METRICS_WINDOW <= 1024,
               "metrics window of 1..1024 values");

typedef struct {
  /* writer-private */
  uint32_t window[HOWDY_METRICS_WINDOW];
  uint32_t sorted[HOWDY_METRICS_WINDOW]; /* scratch for the percentile */
  uint32_t filled;                       /* values in the window */
  uint32_t next;                         /* where the next value goes */
  uint64_t window_sum;
  bool with_p95; /* the sort costs ~W^2/4 compares: only where it is asked */
  /* published */
  atomic_uint_least32_t count; /* values since reset (saturates) */
  atomic_uint_least32_t last;
  atomic_uint_least32_t avg;
  atomic_uint_least32_t max;
  atomic_uint_least32_t p95;
  atomic_uint_least32_t max_ever;
  atomic_uint_least32_t window_n; /* filled, published for weighting */
} howdy_stat_t;

typedef struct {
  uint32_t count, last, avg, max, p95, max_ever, window_n;
} howdy_stat_snapshot_t;

void howdy_stat_init(howdy_stat_t *s, bool with_p95);
void howdy_stat_add(howdy_stat_t *s, uint32_t value_us);
/* False while no value was added (count == 0). */
bool howdy_stat_read(const howdy_stat_t *s, howdy_stat_snapshot_t *out);

typedef struct {
  howdy_stat_t mic_latency;
  howdy_stat_t playback_latency;
  howdy_stat_t mic_frame_time;
  howdy_stat_t speaker_frame_time;
  atomic_uint_least32_t underruns;
  atomic_uint_least32_t mic_dropped;
  /* Per reply: arrival of a stream's first chunk -> its first sample consumed
   * by the output tick. Written by the output task when a stream starts
   * playing (value first, then the count, with release order), so a client
   * can add it to its own "first chunk sent" time for that reply. */
  atomic_uint_least32_t reply_start_latency_us;
  atomic_uint_least32_t reply_starts;
  const howdy_pool_t *pool; /* overruns, hit rate, high water, geometry */

  /* Entity bookkeeping, API server task only (howdy_audio_metrics_register
   * and howdy_audio_metrics_push_events). */
  uint32_t key_underruns;
  uint32_t key_overruns;
  uint32_t key_reply_start;
  uint32_t pushed_underruns;
  uint32_t pushed_overruns;
  uint32_t pushed_reply_starts;
} howdy_audio_metrics_t;

void howdy_audio_metrics_init(howdy_audio_metrics_t *m, const howdy_pool_t *pool);

/* Single-writer increments (see the writer list above). */
void howdy_audio_metrics_count_underrun(howdy_audio_metrics_t *m);
void howdy_audio_metrics_count_mic_drop(howdy_audio_metrics_t *m);
/* The output task, when a stream's first sample is consumed. */
void howdy_audio_metrics_reply_started(howdy_audio_metrics_t *m, uint32_t latency_us);

/* Plain getters, any task. */
uint32_t howdy_audio_metrics_underruns(const howdy_audio_metrics_t *m);
uint32_t howdy_audio_metrics_overruns(const howdy_audio_metrics_t *m); /* pool failures */
uint32_t howdy_audio_metrics_mic_dropped(const howdy_audio_metrics_t *m);
/* Both frame-time stats folded into one: the average weighted by how many
 * values each window holds, the larger maximum. False before any frame. */
bool howdy_audio_metrics_frame_time(const howdy_audio_metrics_t *m, uint32_t *avg_us,
                                    uint32_t *max_us);

/* Adds the audio rows to the entity registry (object ids in docs/audio.md):
 * latencies in ms, frame time in ms, counters, pool hit rate and high water,
 * and the pool geometry (how the integration learns it). Returns HOWDY_OK or
 * HOWDY_ERR_NO_SPACE. API server task. */
int howdy_audio_metrics_register(howdy_audio_metrics_t *m, howdy_entities_t *r);

/* Pushes the underrun and overrun counters at once if they changed since the
 * last push (an underrun must not wait for the next sampling period). Call
 * from the API server task whenever the output task signalled an event.
 * Returns true if something was pushed. */
bool howdy_audio_metrics_push_events(howdy_audio_metrics_t *m, howdy_entities_t *r);

#ifdef __cplusplus
}
#endif

#endif /* HOWDY_AUDIO_METRICS_H */
