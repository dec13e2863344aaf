/* Audio path metrics (see howdy/audio_metrics.h). */
#include "howdy/audio_metrics.h"

#include <string.h>

#include "howdy/platform.h"

static uint32_t load32(const atomic_uint_least32_t *a) {
  return atomic_load_explicit(a, memory_order_relaxed);
}

static void store32(atomic_uint_least32_t *a, uint32_t v) {
  atomic_store_explicit(a, v, memory_order_relaxed);
}

void howdy_stat_init(howdy_stat_t *s, bool with_p95) {
  memset(s->window, 0, sizeof s->window);
  s->filled = 0;
  s->next = 0;
  s->window_sum = 0;
  s->with_p95 = with_p95;
  atomic_init(&s->count, 0);
  atomic_init(&s->last, 0);
  atomic_init(&s->avg, 0);
  atomic_init(&s->max, 0);
  atomic_init(&s->p95, 0);
  atomic_init(&s->max_ever, 0);
  atomic_init(&s->window_n, 0);
}

/* Nearest-rank 95th percentile of the window: the smallest value with at
 * least 95 % of the window at or below it. */
static uint32_t window_p95(howdy_stat_t *s) {
  uint32_t n = s->filled;
  memcpy(s->sorted, s->window, n * sizeof s->sorted[0]);
  /* Insertion sort: the window is small and this avoids qsort's callback
   * and any library dependency in the core. */
  for (uint32_t i = 1; i < n; i++) {
    uint32_t v = s->sorted[i];
    uint32_t j = i;
    while (j > 0 && s->sorted[j - 1] > v) {
      s->sorted[j] = s->sorted[j - 1];
      j--;
    }
    s->sorted[j] = v;
  }
  uint32_t rank = (95u * n + 99u) / 100u; /* ceil(0.95 n), >= 1 for n >= 1 */
  return s->sorted[rank - 1];
}

void howdy_stat_add(howdy_stat_t *s, uint32_t value_us) {
  if (s->filled == HOWDY_METRICS_WINDOW) {
    s->window_sum -= s->window[s->next];
  } else {
    s->filled++;
  }
  s->window[s->next] = value_us;
  s->window_sum += value_us;
  s->next = (s->next + 1u) % HOWDY_METRICS_WINDOW;

  uint32_t max = 0;
  for (uint32_t i = 0; i < s->filled; i++) {
    if (s->window[i] > max) max = s->window[i];
  }
  store32(&s->last, value_us);
  store32(&s->avg, (uint32_t)((s->window_sum + s->filled / 2u) / s->filled));
  store32(&s->max, max);
  if (s->with_p95) store32(&s->p95, window_p95(s));
  if (value_us > load32(&s->max_ever)) store32(&s->max_ever, value_us);
  store32(&s->window_n, s->filled);
  uint32_t c = load32(&s->count);
  if (c != UINT32_MAX) c++;
  /* Release: a reader that sees the new count also sees the figures above. */
  atomic_store_explicit(&s->count, c, memory_order_release);
}

bool howdy_stat_read(const howdy_stat_t *s, howdy_stat_snapshot_t *out) {
  out->count = atomic_load_explicit(&s->count, memory_order_acquire);
  out->last = load32(&s->last);
  out->avg = load32(&s->avg);
  out->max = load32(&s->max);
  out->p95 = load32(&s->p95);
  out->max_ever = load32(&s->max_ever);
  out->window_n = load32(&s->window_n);
  return out->count != 0;
}

void howdy_audio_metrics_init(howdy_audio_metrics_t *m, const howdy_pool_t *pool) {
  memset(m, 0, sizeof *m);
  howdy_stat_init(&m->mic_latency, true);
  howdy_stat_init(&m->playback_latency, true);
  howdy_stat_init(&m->mic_frame_time, false);
  howdy_stat_init(&m->speaker_frame_time, false);
  atomic_init(&m->underruns, 0);
  atomic_init(&m->mic_dropped, 0);
  atomic_init(&m->reply_start_latency_us, 0);
  atomic_init(&m->reply_starts, 0);
  m->pool = pool;
}

void howdy_audio_metrics_count_underrun(howdy_audio_metrics_t *m) {
  store32(&m->underruns, load32(&m->underruns) + 1u);
}

void howdy_audio_metrics_count_mic_drop(howdy_audio_metrics_t *m) {
  store32(&m->mic_dropped, load32(&m->mic_dropped) + 1u);
}

void howdy_audio_metrics_reply_started(howdy_audio_metrics_t *m, uint32_t latency_us) {
  atomic_store_explicit(&m->reply_start_latency_us, latency_us, memory_order_relaxed);
  atomic_fetch_add_explicit(&m->reply_starts, 1u, memory_order_release);
}

uint32_t howdy_audio_metrics_underruns(const howdy_audio_metrics_t *m) {
  return load32(&m->underruns);
}

uint32_t howdy_audio_metrics_overruns(const howdy_audio_metrics_t *m) {
  return m->pool ? load32(&m->pool->failures) : 0;
}

uint32_t howdy_audio_metrics_mic_dropped(const howdy_audio_metrics_t *m) {
  return load32(&m->mic_dropped);
}

bool howdy_audio_metrics_frame_time(const howdy_audio_metrics_t *m, uint32_t *avg_us,
                                    uint32_t *max_us) {
  howdy_stat_snapshot_t a, b;
  bool has_a = howdy_stat_read(&m->mic_frame_time, &a);
  bool has_b = howdy_stat_read(&m->speaker_frame_time, &b);
  if (!has_a && !has_b) return false;
  if (!has_a) a = (howdy_stat_snapshot_t){0};
  if (!has_b) b = (howdy_stat_snapshot_t){0};
  uint64_t n = (uint64_t)a.window_n + b.window_n;
  if (n == 0) return false;
  *avg_us = (uint32_t)(((uint64_t)a.avg * a.window_n + (uint64_t)b.avg * b.window_n + n / 2) / n);
  *max_us = a.max > b.max ? a.max : b.max;
  return true;
}

/* ---- entity readers ----------------------------------------------------------
 * Durations are published in milliseconds (Home Assistant's duration class
 * knows ms; µs would need a unit string it may not convert). */

static bool read_stat_ms(const howdy_stat_t *s, int which, float *v) {
  howdy_stat_snapshot_t snap;
  if (!howdy_stat_read(s, &snap)) return false;
  uint32_t us = which == 0 ? snap.avg : which == 1 ? snap.max : snap.p95;
  *v = (float)us / 1000.0f;
  return true;
}

static bool read_mic_latency(void *ctx, float *v) {
  return read_stat_ms(&((howdy_audio_metrics_t *)ctx)->mic_latency, 0, v);
}
static bool read_mic_latency_max(void *ctx, float *v) {
  return read_stat_ms(&((howdy_audio_metrics_t *)ctx)->mic_latency, 1, v);
}
static bool read_mic_latency_p95(void *ctx, float *v) {
  return read_stat_ms(&((howdy_audio_metrics_t *)ctx)->mic_latency, 2, v);
}
static bool read_playback_latency(void *ctx, float *v) {
  return read_stat_ms(&((howdy_audio_metrics_t *)ctx)->playback_latency, 0, v);
}
static bool read_playback_latency_max(void *ctx, float *v) {
  return read_stat_ms(&((howdy_audio_metrics_t *)ctx)->playback_latency, 1, v);
}

static bool read_frame_time(void *ctx, float *v, bool want_max) {
  uint32_t avg, max;
  if (!howdy_audio_metrics_frame_time(ctx, &avg, &max)) return false;
  *v = (float)(want_max ? max : avg) / 1000.0f;
  return true;
}
static bool read_frame_time_avg(void *ctx, float *v) { return read_frame_time(ctx, v, false); }
static bool read_frame_time_max(void *ctx, float *v) { return read_frame_time(ctx, v, true); }

static bool read_underruns(void *ctx, float *v) {
  *v = (float)howdy_audio_metrics_underruns(ctx);
  return true;
}
static bool read_overruns(void *ctx, float *v) {
  *v = (float)howdy_audio_metrics_overruns(ctx);
  return true;
}

static bool read_pool_hit_rate(void *ctx, float *v) {
  const howdy_audio_metrics_t *m = ctx;
  return m->pool && howdy_pool_hit_rate(m->pool, v);
}

static bool read_pool_high_water(void *ctx, float *v) {
  const howdy_audio_metrics_t *m = ctx;
  if (!m->pool) return false;
  howdy_pool_stats_t st;
  howdy_pool_stats(m->pool, &st);
  *v = (float)st.high_water;
  return true;
}

/* Geometry of the pool actually built into this firmware, read from the pool
 * instance: this is how the integration learns how far ahead it may send. */
static bool read_pool_slot_bytes(void *ctx, float *v) {
  const howdy_audio_metrics_t *m = ctx;
  if (!m->pool) return false;
  howdy_pool_stats_t st;
  howdy_pool_stats(m->pool, &st);
  *v = (float)st.slot_bytes;
  return true;
}
static bool read_pool_slots(void *ctx, float *v) {
  const howdy_audio_metrics_t *m = ctx;
  if (!m->pool) return false;
  howdy_pool_stats_t st;
  howdy_pool_stats(m->pool, &st);
  *v = (float)st.slots;
  return true;
}

/* Pushed only (howdy_audio_metrics_push_events): no periodic re-read. */
static bool read_reply_start(void *ctx, float *v) {
  const howdy_audio_metrics_t *m = ctx;
  if (atomic_load_explicit(&m->reply_starts, memory_order_acquire) == 0) return false;
  *v = (float)atomic_load_explicit(&m->reply_start_latency_us, memory_order_relaxed) / 1000.0f;
  return true;
}

#define HOWDY_DIAG_MS(id, label, fn, band, off)                                           \
  {.c = {.object_id = id, .name = label, .icon = "mdi:timer-sand",                        \
         .device_class = "duration", .category = HOWDY_CATEGORY_DIAGNOSTIC,              \
         .disabled_by_default = off},                                                     \
   .unit = "ms", .state_class = HOWDY_STATE_CLASS_MEASUREMENT, .accuracy_decimals = 1,    \
   .deadband = band, .read = fn}

/* Enabled by default: the last microphone and playback latency and the
 * underrun / overrun counters, which users chart and automate on. The
 * max / p95 variants, the frame processing time and the pool figures are for
 * debugging and start disabled. The pool geometry (slot size, slots) still
 * reaches the integration: the device pushes every state to every subscriber,
 * whether or not Home Assistant shows the entity. */
static const howdy_sensor_desc_t k_audio_sensors[] = {
    HOWDY_DIAG_MS("mic_latency", "Microphone latency", read_mic_latency, 2.0f, false),
    HOWDY_DIAG_MS("mic_latency_max", "Microphone latency max", read_mic_latency_max, 2.0f, true),
    HOWDY_DIAG_MS("mic_latency_p95", "Microphone latency p95", read_mic_latency_p95, 2.0f, true),
    HOWDY_DIAG_MS("playback_latency", "Playback latency", read_playback_latency, 2.0f, false),
    HOWDY_DIAG_MS("reply_start_latency", "Reply start latency", read_reply_start, 1000000.0f,
                  true),
    HOWDY_DIAG_MS("playback_latency_max", "Playback latency max", read_playback_latency_max,
                  2.0f, true),
    {.c = {.object_id = "audio_frame_time", .name = "Audio frame processing time",
           .icon = "mdi:timer-cog-outline", .device_class = "duration",
           .category = HOWDY_CATEGORY_DIAGNOSTIC,
           .disabled_by_default = true},
     .unit = "ms", .state_class = HOWDY_STATE_CLASS_MEASUREMENT, .accuracy_decimals = 3,
     .deadband = 0.05f, .read = read_frame_time_avg},
    {.c = {.object_id = "audio_frame_time_max", .name = "Audio frame processing time max",
           .icon = "mdi:timer-cog-outline", .device_class = "duration",
           .category = HOWDY_CATEGORY_DIAGNOSTIC,
           .disabled_by_default = true},
     .unit = "ms", .state_class = HOWDY_STATE_CLASS_MEASUREMENT, .accuracy_decimals = 3,
     .deadband = 0.05f, .read = read_frame_time_max},
    {.c = {.object_id = "audio_underruns", .name = "Audio underruns", .icon = "mdi:speaker-off",
           .category = HOWDY_CATEGORY_DIAGNOSTIC},
     .state_class = HOWDY_STATE_CLASS_TOTAL_INCREASING, .accuracy_decimals = 0,
     .deadband = 0.0f, .read = read_underruns},
    {.c = {.object_id = "audio_overruns", .name = "Audio overruns",
           .icon = "mdi:tray-full", .category = HOWDY_CATEGORY_DIAGNOSTIC},
     .state_class = HOWDY_STATE_CLASS_TOTAL_INCREASING, .accuracy_decimals = 0,
     .deadband = 0.0f, .read = read_overruns},
    {.c = {.object_id = "audio_pool_hit_rate", .name = "Audio pool hit rate",
           .icon = "mdi:percent", .category = HOWDY_CATEGORY_DIAGNOSTIC,
           .disabled_by_default = true},
     .unit = "%", .state_class = HOWDY_STATE_CLASS_MEASUREMENT, .accuracy_decimals = 1,
     .deadband = 0.1f, .read = read_pool_hit_rate},
    {.c = {.object_id = "audio_pool_high_water", .name = "Audio pool high water",
           .icon = "mdi:waves-arrow-up", .category = HOWDY_CATEGORY_DIAGNOSTIC,
           .disabled_by_default = true},
     .unit = "slots", .state_class = HOWDY_STATE_CLASS_MEASUREMENT, .accuracy_decimals = 0,
     .deadband = 0.0f, .read = read_pool_high_water},
    {.c = {.object_id = "audio_pool_slot_bytes", .name = "Audio pool slot size",
           .icon = "mdi:memory", .device_class = "data_size",
           .category = HOWDY_CATEGORY_DIAGNOSTIC,
           .disabled_by_default = true},
     .unit = "B", .state_class = HOWDY_STATE_CLASS_NONE, .accuracy_decimals = 0,
     .deadband = 0.0f, .read = read_pool_slot_bytes},
    {.c = {.object_id = "audio_pool_slots", .name = "Audio pool slots", .icon = "mdi:memory",
           .category = HOWDY_CATEGORY_DIAGNOSTIC,
           .disabled_by_default = true},
     .unit = "slots", .state_class = HOWDY_STATE_CLASS_NONE, .accuracy_decimals = 0,
     .deadband = 0.0f, .read = read_pool_slots},
};

int howdy_audio_metrics_register(howdy_audio_metrics_t *m, howdy_entities_t *r) {
  for (size_t i = 0; i < sizeof k_audio_sensors / sizeof k_audio_sensors[0]; i++) {
    uint32_t key = howdy_entities_add_sensor(r, &k_audio_sensors[i], m);
    if (!key) return HOWDY_ERR_NO_SPACE;
    if (k_audio_sensors[i].read == read_underruns) m->key_underruns = key;
    if (k_audio_sensors[i].read == read_overruns) m->key_overruns = key;
    if (k_audio_sensors[i].read == read_reply_start) m->key_reply_start = key;
  }
  m->pushed_underruns = howdy_audio_metrics_underruns(m);
  m->pushed_overruns = howdy_audio_metrics_overruns(m);
  return HOWDY_OK;
}

bool howdy_audio_metrics_push_events(howdy_audio_metrics_t *m, howdy_entities_t *r) {
  bool pushed = false;
  uint32_t u = howdy_audio_metrics_underruns(m);
  if (m->key_underruns && u != m->pushed_underruns) {
    howdy_entities_sensor_push(r, m->key_underruns, (float)u);
    m->pushed_underruns = u;
    pushed = true;
  }
  uint32_t o = howdy_audio_metrics_overruns(m);
  if (m->key_overruns && o != m->pushed_overruns) {
    howdy_entities_sensor_push(r, m->key_overruns, (float)o);
    m->pushed_overruns = o;
    pushed = true;
  }
  /* Every reply's start latency goes out when that reply starts playing,
   * equal to the last one or not: it belongs to this reply. */
  uint32_t starts = atomic_load_explicit(&m->reply_starts, memory_order_acquire);
  if (m->key_reply_start && starts != m->pushed_reply_starts) {
    uint32_t us = atomic_load_explicit(&m->reply_start_latency_us, memory_order_relaxed);
    howdy_entities_sensor_push(r, m->key_reply_start, (float)us / 1000.0f);
    m->pushed_reply_starts = starts;
    pushed = true;
  }
  return pushed;
}
