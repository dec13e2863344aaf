/*
 * Speaker path: reply audio from the network into 10 ms output frames.
 *
 *   network task                      output task (every 10 ms)
 *   stream_begin                      howdy_speaker_tick(now) -> one frame
 *   feed(chunk) -> pool slots  ---->    takes slots in arrival order,
 *   stream_end / abort                  applies volume/mute, measures
 *
 * The "play ring" between them is the pool's ring of filled slot numbers (see
 * audio_pool.h): audio is copied once, from the socket buffer into a slot,
 * and converted straight from the slot into the output frame.
 *
 * Streams. Every reply or announcement is one stream, numbered by
 * howdy_speaker_stream_begin. A stream starts playing when the tick takes its
 * first slot, and is done when the end marker has been received
 * (howdy_speaker_stream_end) and every slot submitted before it has been
 * played. The tick that plays the last sample reports
 * HOWDY_SPK_EVT_STREAM_DONE and publishes a report with the exact time that
 * sample was consumed: that is when the session may send AnnounceFinished.
 *
 * Time of a sample: the tick's now_us is when its frame starts; sample k of
 * the frame is dated now_us + k * 62.5 us (howdy_audio_sample_offset_us).
 *
 * Measurements:
 *   playback latency  per chunk: arrival (the arrival_us passed to feed) ->
 *                     the time of the chunk's first sample in the tick that
 *                     consumed it
 *   underrun          a tick that could not fill its whole frame from a
 *                     stream that is playing and whose end marker has not
 *                     been received (or whose submitted slots are not all
 *                     played yet); counted once per such tick, the rest of
 *                     the frame is silence. Before the first chunk arrives
 *                     (the TTS engine is still thinking) is not an underrun;
 *                     after the stream is done neither.
 *   overrun           a chunk found the pool full (the pool's failures);
 *                     that audio is dropped, the stream goes on
 *   per stream        first/last sample time, samples played, chunks,
 *                     underruns, latency of the first chunk
 *
 * Chunks larger than a slot are spread over several slots; an odd trailing
 * byte (never sent by a correct client: the format is s16) is dropped so the
 * sample alignment of the stream survives.
 *
 * Volume and mute may be set from any task; mute outputs silence but keeps
 * consuming the stream, so completion and AnnounceFinished keep their timing.
 */
#ifndef HOWDY_SPEAKER_PATH_H
#define HOWDY_SPEAKER_PATH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "howdy/audio_dsp.h"
#include "howdy/audio_metrics.h"
#include "howdy/audio_pool.h"
#include "howdy/audio_types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Events returned by howdy_speaker_tick. */
#define HOWDY_SPK_EVT_UNDERRUN 0x01u /* this frame ran dry mid-stream */
#define HOWDY_SPK_EVT_STARTED 0x02u  /* a stream's first sample is in this frame */
#define HOWDY_SPK_EVT_DONE 0x04u     /* a stream finished: its report is ready */
#define HOWDY_SPK_EVT_ABORTED 0x08u  /* an aborted stream was flushed */
#define HOWDY_SPK_EVT_AUDIO 0x10u    /* the frame holds stream samples */

typedef struct {
  uint16_t stream;
  bool aborted;             /* flushed by howdy_speaker_abort, not played out */
  bool played_any;          /* false for an empty stream */
  uint64_t first_sample_us; /* time of the stream's first sample */
  uint64_t last_sample_us;  /* time of its last sample */
  uint64_t samples;         /* samples played (bytes = 2x) */
  uint32_t chunks;          /* chunks that started playing */
  uint32_t underruns;       /* underrun ticks during this stream */
  uint32_t first_chunk_latency_us;
} howdy_speaker_report_t;

typedef struct {
  howdy_pool_t *pool;
  howdy_audio_metrics_t *metrics;
  howdy_clock_fn clock;
  void *clock_ctx;

  /* Controls, any task. */
  atomic_int_least32_t volume_q15;
  atomic_bool muted;
  atomic_bool playing; /* published copy of the output task's state */

  /* Network task -> output task. */
  atomic_uint_least32_t end_word;   /* stream << 16 | slots submitted (mod 2^16) */
  atomic_uint_least32_t abort_word; /* stream to flush */

  /* Network task only. */
  uint16_t prod_stream;
  uint16_t prod_slots;
  bool prod_open;

  /* Output task only. */
  uint16_t play_stream;
  bool play_active;     /* play_stream started and is not finished */
  uint16_t consumed_slots;
  uint16_t finished_stream; /* last stream reported done or aborted */
  uint16_t aborted_seen;
  howdy_pool_slot_t *cur;
  uint32_t cur_off;
  howdy_speaker_report_t live;

  /* Output task -> any task. */
  howdy_speaker_report_t report;
  atomic_uint_least32_t report_stream; /* stream whose report is in `report` */
} howdy_speaker_t;

/* pool must be initialised and used by this speaker alone; metrics may be
 * NULL; clock (frame processing time) may be NULL. Volume starts at 100 %. */
void howdy_speaker_init(howdy_speaker_t *sp, howdy_pool_t *pool, howdy_audio_metrics_t *metrics,
                        howdy_clock_fn clock, void *clock_ctx);

/* Controls (any task). */
void howdy_speaker_set_volume(howdy_speaker_t *sp, float percent);
void howdy_speaker_set_volume_q15(howdy_speaker_t *sp, int32_t q15); /* 0..HOWDY_Q15_ONE */
void howdy_speaker_set_muted(howdy_speaker_t *sp, bool muted);
bool howdy_speaker_playing(const howdy_speaker_t *sp);

/* Network task. Opens a new stream (closing an unterminated previous one as
 * if it had been ended) and returns its number (never 0). */
uint16_t howdy_speaker_stream_begin(howdy_speaker_t *sp);
/* Network task. Queues a chunk of s16le audio that arrived at arrival_us.
 * Returns the bytes accepted: len (minus an odd last byte) when the pool had
 * room, fewer when it ran full (overrun, counted by the pool), or
 * HOWDY_ERR_INVALID when no stream is open. */
int howdy_speaker_feed(howdy_speaker_t *sp, const uint8_t *data, size_t len,
                       uint64_t arrival_us);
/* Network task. The end marker: nothing more will come for this stream. */
void howdy_speaker_stream_end(howdy_speaker_t *sp);
/* Network task. Stops the current stream now (disconnect, barge-in): the
 * output task drops its queued audio at the next tick and reports it as
 * aborted. */
void howdy_speaker_abort(howdy_speaker_t *sp);

/* Output task: produces exactly one 10 ms frame (silence when nothing is to
 * be played) for the frame that starts at now_us. Returns HOWDY_SPK_EVT_*. */
uint32_t howdy_speaker_tick(howdy_speaker_t *sp, uint64_t now_us,
                            int16_t out[HOWDY_AUDIO_FRAME_SAMPLES]);

/* Any task: the report of `stream` once it is done or aborted (true), false
 * while it is still going. The report stays readable until the next stream
 * finishes, so read it when HOWDY_SPK_EVT_DONE/ABORTED is signalled. */
bool howdy_speaker_report(const howdy_speaker_t *sp, uint16_t stream,
                          howdy_speaker_report_t *out);

#ifdef __cplusplus
}
#endif

#endif /* HOWDY_SPEAKER_PATH_H */
