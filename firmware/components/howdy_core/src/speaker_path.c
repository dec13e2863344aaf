/* Speaker path (see howdy/speaker_path.h). */
#include "howdy/speaker_path.h"

#include <string.h>

#include "howdy/platform.h"

void howdy_speaker_init(howdy_speaker_t *sp, howdy_pool_t *pool, howdy_audio_metrics_t *metrics,
                        howdy_clock_fn clock, void *clock_ctx) {
  memset(sp, 0, sizeof *sp);
  sp->pool = pool;
  sp->metrics = metrics;
  sp->clock = clock;
  sp->clock_ctx = clock_ctx;
  atomic_init(&sp->volume_q15, HOWDY_Q15_ONE);
  atomic_init(&sp->muted, false);
  atomic_init(&sp->playing, false);
  atomic_init(&sp->end_word, 0);
  atomic_init(&sp->abort_word, 0);
  atomic_init(&sp->report_stream, 0);
}

/* ---- controls --------------------------------------------------------------- */

void howdy_speaker_set_volume(howdy_speaker_t *sp, float percent) {
  howdy_speaker_set_volume_q15(sp, howdy_volume_percent_to_q15(percent));
}

void howdy_speaker_set_volume_q15(howdy_speaker_t *sp, int32_t q15) {
  if (q15 < 0) q15 = 0;
  if (q15 > HOWDY_Q15_ONE) q15 = HOWDY_Q15_ONE;
  atomic_store_explicit(&sp->volume_q15, q15, memory_order_relaxed);
}

void howdy_speaker_set_muted(howdy_speaker_t *sp, bool muted) {
  atomic_store_explicit(&sp->muted, muted, memory_order_relaxed);
}

bool howdy_speaker_playing(const howdy_speaker_t *sp) {
  return atomic_load_explicit(&sp->playing, memory_order_relaxed);
}

/* ---- network task ------------------------------------------------------------- */

uint16_t howdy_speaker_stream_begin(howdy_speaker_t *sp) {
  if (sp->prod_open) howdy_speaker_stream_end(sp);
  sp->prod_stream++;
  if (sp->prod_stream == 0) sp->prod_stream = 1; /* 0 = "no stream" everywhere */
  sp->prod_slots = 0;
  sp->prod_open = true;
  return sp->prod_stream;
}

int howdy_speaker_feed(howdy_speaker_t *sp, const uint8_t *data, size_t len,
                       uint64_t arrival_us) {
  if (!sp->prod_open) return HOWDY_ERR_INVALID;
  len &= ~(size_t)1; /* whole samples only, see the header */
  size_t done = 0;
  bool first = true;
  while (done < len) {
    howdy_pool_slot_t *s = howdy_pool_alloc(sp->pool);
    if (!s) break; /* overrun: counted by the pool, the rest is dropped */
    size_t n = len - done;
    if (n > HOWDY_POOL_SLOT_BYTES) n = HOWDY_POOL_SLOT_BYTES;
    memcpy(s->data, data + done, n);
    s->len = (uint32_t)n;
    s->arrival_us = arrival_us;
    s->stream = sp->prod_stream;
    s->chunk_start = first;
    first = false;
    howdy_pool_submit(sp->pool, s);
    sp->prod_slots++;
    done += n;
  }
  return (int)done;
}

void howdy_speaker_stream_end(howdy_speaker_t *sp) {
  if (!sp->prod_open) return;
  sp->prod_open = false;
  /* Release: the consumer that sees this word also sees every slot
   * submitted before it. */
  atomic_store_explicit(&sp->end_word, ((uint32_t)sp->prod_stream << 16) | sp->prod_slots,
                        memory_order_release);
}

void howdy_speaker_abort(howdy_speaker_t *sp) {
  sp->prod_open = false;
  if (sp->prod_stream == 0) return;
  atomic_store_explicit(&sp->abort_word, sp->prod_stream, memory_order_release);
}

/* ---- output task ---------------------------------------------------------------- */

static void publish_report(howdy_speaker_t *sp, bool aborted) {
  sp->live.aborted = aborted;
  /* Invalidate first, so a reader that races with the copy notices. */
  atomic_store_explicit(&sp->report_stream, 0, memory_order_release);
  sp->report = sp->live;
  atomic_store_explicit(&sp->report_stream, sp->live.stream, memory_order_release);
  sp->finished_stream = sp->live.stream;
  sp->play_active = false;
  atomic_store_explicit(&sp->playing, false, memory_order_relaxed);
}

static void start_stream(howdy_speaker_t *sp, uint16_t stream) {
  sp->play_stream = stream;
  sp->play_active = true;
  sp->consumed_slots = 0;
  memset(&sp->live, 0, sizeof sp->live);
  sp->live.stream = stream;
  atomic_store_explicit(&sp->playing, true, memory_order_relaxed);
}

/* Drops what is queued for an aborted stream. */
static uint32_t follow_abort(howdy_speaker_t *sp) {
  uint16_t a = (uint16_t)atomic_load_explicit(&sp->abort_word, memory_order_acquire);
  if (a == sp->aborted_seen) return 0;
  sp->aborted_seen = a;
  if (sp->cur && sp->cur->stream == a) {
    howdy_pool_release(sp->pool, sp->cur);
    sp->cur = NULL;
  }
  howdy_pool_slot_t *s;
  while ((s = howdy_pool_peek(sp->pool)) != NULL && s->stream == a) {
    howdy_pool_release(sp->pool, howdy_pool_take(sp->pool));
  }
  if (a == sp->finished_stream) return 0; /* already played out */
  if (!(sp->play_active && sp->play_stream == a)) {
    /* Aborted before its first sample: still give it a report, so whoever
     * waits for it is released. */
    memset(&sp->live, 0, sizeof sp->live);
    sp->live.stream = a;
  }
  publish_report(sp, true);
  return HOWDY_SPK_EVT_ABORTED;
}

static void record_latency(howdy_speaker_t *sp, uint64_t sample_us, uint64_t arrival_us) {
  uint64_t dt = sample_us >= arrival_us ? sample_us - arrival_us : 0;
  uint32_t v = dt > UINT32_MAX ? UINT32_MAX : (uint32_t)dt;
  if (sp->live.chunks == 0) {
    sp->live.first_chunk_latency_us = v;
    if (sp->metrics) howdy_audio_metrics_reply_started(sp->metrics, v);
  }
  sp->live.chunks++;
  if (sp->metrics) howdy_stat_add(&sp->metrics->playback_latency, v);
}

/* True when the end marker of the playing stream is in and all its slots
 * have been played. */
static bool stream_complete(howdy_speaker_t *sp) {
  uint32_t end = atomic_load_explicit(&sp->end_word, memory_order_acquire);
  return (uint16_t)(end >> 16) == sp->play_stream && sp->cur == NULL &&
         (uint16_t)(end & 0xFFFFu) == sp->consumed_slots;
}

uint32_t howdy_speaker_tick(howdy_speaker_t *sp, uint64_t now_us,
                            int16_t out[HOWDY_AUDIO_FRAME_SAMPLES]) {
  uint64_t t0 = sp->clock ? sp->clock(sp->clock_ctx) : 0;
  uint32_t evt = follow_abort(sp);

  int32_t vol = atomic_load_explicit(&sp->volume_q15, memory_order_relaxed);
  if (atomic_load_explicit(&sp->muted, memory_order_relaxed)) vol = 0;

  uint32_t filled = 0;
  while (filled < HOWDY_AUDIO_FRAME_SAMPLES) {
    if (!sp->cur) {
      howdy_pool_slot_t *s = howdy_pool_peek(sp->pool);
      if (!s) break;
      if (s->stream == sp->aborted_seen) {
        /* Straggler of an aborted stream. */
        howdy_pool_release(sp->pool, howdy_pool_take(sp->pool));
        continue;
      }
      if (!sp->play_active || s->stream != sp->play_stream) {
        /* Slots arrive in order, so a new stream's first slot means the old
         * one has nothing left: it is done even if its end marker was
         * overtaken by the next stream's. */
        if (sp->play_active) {
          publish_report(sp, false);
          evt |= HOWDY_SPK_EVT_DONE;
        }
        start_stream(sp, s->stream);
        sp->live.first_sample_us = now_us + howdy_audio_sample_offset_us(filled);
        sp->live.played_any = true;
        evt |= HOWDY_SPK_EVT_STARTED;
      }
      sp->cur = howdy_pool_take(sp->pool);
      sp->cur_off = 0;
      if (sp->cur->chunk_start && sp->cur->len > 0) {
        record_latency(sp, now_us + howdy_audio_sample_offset_us(filled), sp->cur->arrival_us);
      }
    }
    uint32_t avail = (sp->cur->len - sp->cur_off) / HOWDY_AUDIO_BYTES_PER_SAMPLE;
    uint32_t n = HOWDY_AUDIO_FRAME_SAMPLES - filled;
    if (n > avail) n = avail;
    const uint8_t *src = sp->cur->data + sp->cur_off;
    for (uint32_t i = 0; i < n; i++) {
      int16_t x = (int16_t)(uint16_t)(src[2 * i] | (src[2 * i + 1] << 8));
      out[filled + i] = vol == HOWDY_Q15_ONE ? x : howdy_apply_gain_q15(x, vol);
    }
    if (n > 0) {
      sp->live.last_sample_us = now_us + howdy_audio_sample_offset_us(filled + n - 1u);
      sp->live.samples += n;
      evt |= HOWDY_SPK_EVT_AUDIO;
    }
    filled += n;
    sp->cur_off += n * HOWDY_AUDIO_BYTES_PER_SAMPLE;
    if (sp->cur_off >= sp->cur->len) {
      howdy_pool_release(sp->pool, sp->cur);
      sp->cur = NULL;
      sp->consumed_slots++;
    }
  }
  if (filled < HOWDY_AUDIO_FRAME_SAMPLES) {
    memset(out + filled, 0, (HOWDY_AUDIO_FRAME_SAMPLES - filled) * sizeof out[0]);
  }

  if (sp->play_active) {
    if (stream_complete(sp)) {
      publish_report(sp, false);
      evt |= HOWDY_SPK_EVT_DONE;
    } else if (filled < HOWDY_AUDIO_FRAME_SAMPLES) {
      sp->live.underruns++;
      if (sp->metrics) howdy_audio_metrics_count_underrun(sp->metrics);
      evt |= HOWDY_SPK_EVT_UNDERRUN;
    }
  } else {
    /* A stream that ended without a single chunk (an empty reply) is done
     * as soon as its end marker is seen. */
    uint32_t end = atomic_load_explicit(&sp->end_word, memory_order_acquire);
    uint16_t es = (uint16_t)(end >> 16);
    if (es != 0 && es != sp->finished_stream && es != sp->aborted_seen &&
        (end & 0xFFFFu) == 0) {
      memset(&sp->live, 0, sizeof sp->live);
      sp->live.stream = es;
      sp->play_stream = es;
      publish_report(sp, false);
      evt |= HOWDY_SPK_EVT_DONE;
    }
  }

  if (sp->clock && sp->metrics) {
    uint64_t t1 = sp->clock(sp->clock_ctx);
    uint64_t dt = t1 >= t0 ? t1 - t0 : 0;
    howdy_stat_add(&sp->metrics->speaker_frame_time, dt > UINT32_MAX ? UINT32_MAX : (uint32_t)dt);
  }
  return evt;
}

bool howdy_speaker_report(const howdy_speaker_t *sp, uint16_t stream,
                          howdy_speaker_report_t *out) {
  if (stream == 0) return false;
  if ((uint16_t)atomic_load_explicit(&sp->report_stream, memory_order_acquire) != stream) {
    return false;
  }
  *out = sp->report;
  /* Seqlock-style check: if the output task republished meanwhile, the copy
   * may mix two reports; say "not yet" and let the caller ask again. */
  atomic_thread_fence(memory_order_acquire);
  return (uint16_t)atomic_load_explicit(&sp->report_stream, memory_order_relaxed) == stream;
}
