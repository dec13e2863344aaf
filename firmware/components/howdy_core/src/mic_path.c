/* Microphone path (see howdy/mic_path.h). */
#include "howdy/mic_path.h"

#include <string.h>

#define GAIN_MIN_Q15 0
#define GAIN_MAX_Q15 (HOWDY_Q15_ONE * 100) /* +40 dB */

/* ---- controls --------------------------------------------------------------- */

void howdy_mic_init(howdy_mic_t *m, howdy_audio_metrics_t *metrics, howdy_clock_fn clock,
                    void *clock_ctx) {
  memset(m, 0, sizeof *m);
  m->metrics = metrics;
  m->clock = clock;
  m->clock_ctx = clock_ctx;
  atomic_init(&m->gain_q15, HOWDY_Q15_ONE);
  atomic_init(&m->muted, false);
  atomic_init(&m->stream_request, 0);
  atomic_init(&m->level_rms_cdb, HOWDY_LEVEL_FLOOR_CDB);
  atomic_init(&m->level_peak_cdb, HOWDY_LEVEL_FLOOR_CDB);
  (void)howdy_ring_init(&m->queue, m->queue_storage, sizeof m->queue_storage);
}

void howdy_mic_set_gain_q15(howdy_mic_t *m, int32_t gain_q15) {
  if (gain_q15 < GAIN_MIN_Q15) gain_q15 = GAIN_MIN_Q15;
  if (gain_q15 > GAIN_MAX_Q15) gain_q15 = GAIN_MAX_Q15;
  atomic_store_explicit(&m->gain_q15, gain_q15, memory_order_relaxed);
}

void howdy_mic_set_gain_db(howdy_mic_t *m, int32_t db) {
  howdy_mic_set_gain_q15(m, howdy_gain_db_to_q15(db));
}

void howdy_mic_set_muted(howdy_mic_t *m, bool muted) {
  atomic_store_explicit(&m->muted, muted, memory_order_release);
}

bool howdy_mic_muted(const howdy_mic_t *m) {
  return atomic_load_explicit(&m->muted, memory_order_acquire);
}

uint16_t howdy_mic_stream_start(howdy_mic_t *m) {
  uint32_t req = atomic_load_explicit(&m->stream_request, memory_order_relaxed);
  uint16_t session = (uint16_t)((req >> 1) + 1u);
  if (session == 0) session = 1; /* 0 means "never streamed" */
  atomic_store_explicit(&m->stream_request, ((uint32_t)session << 1) | 1u, memory_order_release);
  return session;
}

void howdy_mic_stream_stop(howdy_mic_t *m) {
  uint32_t req = atomic_load_explicit(&m->stream_request, memory_order_relaxed);
  atomic_store_explicit(&m->stream_request, req & ~1u, memory_order_release);
}

howdy_mic_level_t howdy_mic_level(const howdy_mic_t *m) {
  howdy_mic_level_t lv = {
      atomic_load_explicit(&m->level_rms_cdb, memory_order_relaxed),
      atomic_load_explicit(&m->level_peak_cdb, memory_order_relaxed),
  };
  return lv;
}

/* ---- microphone task ------------------------------------------------------------ */

static uint32_t commit_packet(howdy_mic_t *m, uint16_t extra_flags) {
  m->building.flags |= extra_flags;
  m->building.session = (uint16_t)(m->stream_seen >> 1);
  uint32_t evt;
  if (howdy_ring_free(&m->queue) >= sizeof m->building) {
    howdy_ring_write(&m->queue, &m->building, sizeof m->building);
    evt = HOWDY_MIC_EVT_PACKET;
  } else {
    if (m->metrics) howdy_audio_metrics_count_mic_drop(m->metrics);
    evt = HOWDY_MIC_EVT_DROPPED;
  }
  m->building_frames = 0;
  m->building.bytes = 0;
  m->building.flags = 0;
  return evt;
}

static uint32_t packetize(howdy_mic_t *m, const int16_t *pcm, uint64_t capture_us,
                          uint16_t flags) {
  if (m->building_frames == 0) m->building.capture_us = capture_us;
  m->building.flags |= flags;
  uint8_t *dst = m->building.pcm + m->building.bytes;
  /* The wire is little-endian whatever the CPU is. */
  for (uint32_t i = 0; i < HOWDY_AUDIO_FRAME_SAMPLES; i++) {
    uint16_t u = (uint16_t)pcm[i];
    dst[2 * i] = (uint8_t)(u & 0xFFu);
    dst[2 * i + 1] = (uint8_t)(u >> 8);
  }
  m->building.bytes = (uint16_t)(m->building.bytes + HOWDY_AUDIO_FRAME_BYTES);
  m->building_frames++;
  if (m->building_frames == HOWDY_MIC_PACKET_FRAMES) return commit_packet(m, 0);
  return 0;
}

static void preroll_push(howdy_mic_t *m, const int16_t *pcm, uint64_t capture_us) {
  if (HOWDY_MIC_PREROLL_FRAMES == 0) return;
  uint32_t at;
  if (m->preroll_count < HOWDY_MIC_PREROLL_FRAMES) {
    at = (m->preroll_oldest + m->preroll_count) % HOWDY_MIC_PREROLL_FRAMES;
    m->preroll_count++;
  } else {
    /* Full: the oldest frame makes room. */
    at = m->preroll_oldest;
    m->preroll_oldest = (m->preroll_oldest + 1u) % HOWDY_MIC_PREROLL_FRAMES;
  }
  memcpy(m->preroll[at], pcm, HOWDY_AUDIO_FRAME_BYTES);
  m->preroll_us[at] = capture_us;
}

static uint32_t preroll_flush(howdy_mic_t *m) {
  uint32_t evt = 0;
  for (uint32_t i = 0; i < m->preroll_count; i++) {
    uint32_t at = (m->preroll_oldest + i) % HOWDY_MIC_PREROLL_FRAMES;
    evt |= packetize(m, m->preroll[at], m->preroll_us[at], HOWDY_MIC_PKT_PREROLL);
  }
  m->preroll_count = 0;
  m->preroll_oldest = 0;
  return evt;
}

/* Acts on a start/stop request made since the previous frame. */
static uint32_t follow_stream_request(howdy_mic_t *m) {
  uint32_t req = atomic_load_explicit(&m->stream_request, memory_order_acquire);
  if (req == m->stream_seen) return 0;
  uint32_t evt = 0;
  if (m->streaming) {
    /* The partial packet (or an empty one) closes the old session, so the
     * consumer always sees where it ended. */
    evt |= commit_packet(m, HOWDY_MIC_PKT_LAST) | HOWDY_MIC_EVT_STOPPED;
    m->streaming = false;
  }
  m->stream_seen = req;
  if (req & 1u) {
    m->streaming = true;
    m->building_frames = 0;
    m->building.bytes = 0;
    m->building.flags = 0;
    evt |= HOWDY_MIC_EVT_STARTED | preroll_flush(m);
  }
  return evt;
}

uint32_t howdy_mic_process(howdy_mic_t *m, int16_t pcm[HOWDY_AUDIO_FRAME_SAMPLES],
                           uint64_t capture_us) {
  uint64_t t0 = m->clock ? m->clock(m->clock_ctx) : 0;

  bool muted = atomic_load_explicit(&m->muted, memory_order_acquire);
  if (muted) {
    memset(pcm, 0, HOWDY_AUDIO_FRAME_BYTES);
    if (!m->muted_seen) {
      /* What was captured just before the mute must not leak out as
       * pre-roll of a later session either. */
      m->preroll_count = 0;
      m->preroll_oldest = 0;
    }
  }
  m->muted_seen = muted;

  int32_t gain = atomic_load_explicit(&m->gain_q15, memory_order_relaxed);
  if (gain != HOWDY_Q15_ONE) {
    for (uint32_t i = 0; i < HOWDY_AUDIO_FRAME_SAMPLES; i++) {
      pcm[i] = howdy_apply_gain_q15(pcm[i], gain);
    }
  }

  howdy_mic_level_t lv = howdy_level_measure(pcm, HOWDY_AUDIO_FRAME_SAMPLES);
  atomic_store_explicit(&m->level_rms_cdb, lv.rms_cdb, memory_order_relaxed);
  atomic_store_explicit(&m->level_peak_cdb, lv.peak_cdb, memory_order_relaxed);

  uint32_t evt = follow_stream_request(m);
  if (m->streaming) {
    evt |= packetize(m, pcm, capture_us, 0);
  } else {
    preroll_push(m, pcm, capture_us);
  }

  if (m->clock && m->metrics) {
    uint64_t t1 = m->clock(m->clock_ctx);
    uint64_t dt = t1 >= t0 ? t1 - t0 : 0;
    howdy_stat_add(&m->metrics->mic_frame_time, dt > UINT32_MAX ? UINT32_MAX : (uint32_t)dt);
  }
  return evt;
}

/* ---- network task --------------------------------------------------------------- */

bool howdy_mic_take_packet(howdy_mic_t *m, howdy_mic_packet_t *out) {
  /* Records are written whole, so "enough bytes" means "a whole packet". */
  if (howdy_ring_available(&m->queue) < sizeof *out) return false;
  howdy_ring_read(&m->queue, out, sizeof *out);
  return true;
}

void howdy_mic_packet_sent(howdy_mic_t *m, const howdy_mic_packet_t *pkt, uint64_t sent_us) {
  if (!m->metrics || pkt->bytes == 0 || (pkt->flags & HOWDY_MIC_PKT_PREROLL)) return;
  uint64_t dt = sent_us >= pkt->capture_us ? sent_us - pkt->capture_us : 0;
  howdy_stat_add(&m->metrics->mic_latency, dt > UINT32_MAX ? UINT32_MAX : (uint32_t)dt);
}

void howdy_mic_discard_queued(howdy_mic_t *m) { howdy_ring_clear(&m->queue); }
