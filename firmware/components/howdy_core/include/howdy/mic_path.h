/*
 * Microphone path: 10 ms frames in, VoiceAssistantAudio payloads out.
 *
 * Per frame (howdy_mic_process, microphone task):
 *   mute   -> the frame is overwritten with zeros before anything else looks
 *             at it, and the pre-roll is emptied when mute engages, so no
 *             sound captured while muted (or just before) can leave the device;
 *             frames keep flowing so a running session stays in time
 *   gain   -> Q15 (HOWDY_Q15_ONE = 0 dB), saturating to the s16 range
 *   level  -> RMS and peak in dBFS over the frame (after gain and mute)
 *   then, when no session streams: into the pre-roll (the last
 *   HOWDY_MIC_PREROLL_MS, oldest dropped first), and when a session streams:
 *   into the packetizer.
 *
 * Packets are HOWDY_MIC_PACKET_FRAMES frames (default 2: 20 ms, 640 bytes of
 * s16le): whole frames, so each packet's timestamp is a frame's own capture
 * time; half of the Noise/protobuf framing overhead of 10 ms packets; and only
 * 10 ms of added delay. Each packet carries the capture time of its first
 * sample, so the network task can measure the microphone latency at the
 * moment it hands the bytes to the socket (howdy_mic_packet_sent).
 *
 * Sessions: howdy_mic_stream_start (any task) asks the microphone task to
 * begin streaming at its next frame: the pre-roll goes out first, oldest frame
 * first, flagged HOWDY_MIC_PKT_PREROLL, then live frames follow without a gap.
 * howdy_mic_stream_stop asks it to stop: the packet being built is sent as a
 * short packet, and the frame that sees the stop is the first one not sent.
 * Packets carry the session number so that the consumer can drop the tail of
 * an old session.
 *
 * The packets travel to the network task through an SPSC ring of fixed-size
 * records. When it is full the packet is dropped and counted
 * (howdy_audio_metrics_mic_dropped): the microphone task never blocks.
 */
#ifndef HOWDY_MIC_PATH_H
#define HOWDY_MIC_PATH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "howdy/audio_dsp.h"
#include "howdy/audio_metrics.h"
#include "howdy/audio_types.h"
#include "howdy/ring.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifndef HOWDY_MIC_PREROLL_MS
#define HOWDY_MIC_PREROLL_MS 300u
#endif
#ifndef HOWDY_MIC_PACKET_FRAMES
#define HOWDY_MIC_PACKET_FRAMES 2u
#endif
#ifndef HOWDY_MIC_QUEUE_BYTES
#define HOWDY_MIC_QUEUE_BYTES 16384u /* power of two; 24 packets = 480 ms */
#endif

#define HOWDY_MIC_PREROLL_FRAMES (HOWDY_MIC_PREROLL_MS / HOWDY_AUDIO_FRAME_MS)
#define HOWDY_MIC_PACKET_BYTES (HOWDY_MIC_PACKET_FRAMES * HOWDY_AUDIO_FRAME_BYTES)

_Static_assert(HOWDY_MIC_PREROLL_MS % HOWDY_AUDIO_FRAME_MS == 0, "pre-roll in whole frames");
_Static_assert(HOWDY_MIC_PACKET_FRAMES >= 1, "a packet holds at least one frame");
_Static_assert((HOWDY_MIC_QUEUE_BYTES & (HOWDY_MIC_QUEUE_BYTES - 1)) == 0,
               "the packet queue is a power-of-two ring");

/* Packet flags. */
#define HOWDY_MIC_PKT_PREROLL 0x0001u /* holds pre-roll audio (not timed) */
#define HOWDY_MIC_PKT_LAST 0x0002u    /* the last packet of its session */

typedef struct {
  uint64_t capture_us; /* capture time of the packet's first sample */
  uint16_t session;    /* from howdy_mic_stream_start */
  uint16_t bytes;      /* valid bytes of pcm: whole frames */
  uint16_t flags;      /* HOWDY_MIC_PKT_* */
  uint16_t reserved;
  uint8_t pcm[HOWDY_MIC_PACKET_BYTES]; /* s16le, the VoiceAssistantAudio payload */
} howdy_mic_packet_t;

/* The whole pre-roll has to fit into the queue at once, plus room for the
 * live packets that follow while the network task catches up. */
_Static_assert(HOWDY_MIC_QUEUE_BYTES / sizeof(howdy_mic_packet_t) >=
                   (HOWDY_MIC_PREROLL_FRAMES + HOWDY_MIC_PACKET_FRAMES - 1) /
                           HOWDY_MIC_PACKET_FRAMES + 2,
               "HOWDY_MIC_QUEUE_BYTES too small for the pre-roll");

typedef howdy_level_t howdy_mic_level_t;

/* Events returned by howdy_mic_process. */
#define HOWDY_MIC_EVT_PACKET 0x01u  /* at least one packet was queued */
#define HOWDY_MIC_EVT_DROPPED 0x02u /* a packet was dropped: queue full */
#define HOWDY_MIC_EVT_STARTED 0x04u /* a session started streaming with this frame */
#define HOWDY_MIC_EVT_STOPPED 0x08u /* a session stopped before this frame */

typedef struct {
  howdy_audio_metrics_t *metrics;
  howdy_clock_fn clock;
  void *clock_ctx;

  /* Controls, written by any task. */
  atomic_int_least32_t gain_q15;
  atomic_bool muted;
  atomic_uint_least32_t stream_request; /* session << 1 | streaming */
  /* Published level of the last frame (for the UI / entities). */
  atomic_int_least32_t level_rms_cdb;
  atomic_int_least32_t level_peak_cdb;

  /* Microphone task only. */
  uint32_t stream_seen; /* last stream_request acted upon */
  bool streaming;
  bool muted_seen;
  int16_t preroll[HOWDY_MIC_PREROLL_FRAMES > 0 ? HOWDY_MIC_PREROLL_FRAMES : 1]
                 [HOWDY_AUDIO_FRAME_SAMPLES];
  uint64_t preroll_us[HOWDY_MIC_PREROLL_FRAMES > 0 ? HOWDY_MIC_PREROLL_FRAMES : 1];
  uint32_t preroll_oldest;
  uint32_t preroll_count;
  howdy_mic_packet_t building;
  uint32_t building_frames;

  /* Microphone task -> network task. */
  howdy_ring_t queue;
  uint8_t queue_storage[HOWDY_MIC_QUEUE_BYTES];
} howdy_mic_t;

/* metrics may be NULL (no measurements). clock is read around each frame's
 * processing for the frame-time metric; NULL skips that measurement. */
void howdy_mic_init(howdy_mic_t *m, howdy_audio_metrics_t *metrics, howdy_clock_fn clock,
                    void *clock_ctx);

/* Controls (any task; take effect at the next frame). */
void howdy_mic_set_gain_q15(howdy_mic_t *m, int32_t gain_q15); /* clamped to 0..+40 dB */
void howdy_mic_set_gain_db(howdy_mic_t *m, int32_t db);
void howdy_mic_set_muted(howdy_mic_t *m, bool muted);
bool howdy_mic_muted(const howdy_mic_t *m);
/* Returns the session number the packets of this stream will carry. Call from
 * one controlling task (the session). */
uint16_t howdy_mic_stream_start(howdy_mic_t *m);
void howdy_mic_stream_stop(howdy_mic_t *m);

/* Microphone task: processes one frame in place (the caller may pass the
 * processed frame on to a wake word engine) and files it. capture_us is the
 * capture time of pcm[0] on the clock the latency is measured with.
 * Returns HOWDY_MIC_EVT_* bits. */
uint32_t howdy_mic_process(howdy_mic_t *m, int16_t pcm[HOWDY_AUDIO_FRAME_SAMPLES],
                           uint64_t capture_us);
/* Level of the last processed frame (any task). */
howdy_mic_level_t howdy_mic_level(const howdy_mic_t *m);

/* Network task. Copies the oldest queued packet out; false when none. */
bool howdy_mic_take_packet(howdy_mic_t *m, howdy_mic_packet_t *out);
/* Network task: call right after the packet's bytes were handed to the socket;
 * records capture -> sent as the microphone latency (pre-roll packets are left
 * out: they wait in the pre-roll on purpose). */
void howdy_mic_packet_sent(howdy_mic_t *m, const howdy_mic_packet_t *pkt, uint64_t sent_us);
/* Network task: drops everything queued (a session ended or the client left). */
void howdy_mic_discard_queued(howdy_mic_t *m);

#ifdef __cplusplus
}
#endif

#endif /* HOWDY_MIC_PATH_H */
