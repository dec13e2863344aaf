/*
 * Per-frame cost of the audio path, for valgrind --tool=callgrind.
 *
 *   frame_cost MODE FRAMES
 *
 * Sets up the audio path the way the simulator does (one static
 * howdy_audio_path_t), warms it up, and then runs FRAMES 10 ms frames of
 * MODE with callgrind's instrumentation collecting only around the per-frame
 * work (run valgrind with --collect-atstart=no): set-up, input generation and
 * everything done by "the other side" (Home Assistant encrypting a reply
 * chunk) are outside the counted span. bench/device_cost.py divides the
 * instruction total by FRAMES.
 *
 * Modes:
 *   memcpy           baseline: copy one 320-byte frame (what any path costs at least)
 *   mic              howdy_mic_process + packetizing (take_packet, packet_sent), gain 0 dB
 *   mic_gain         the same with +12 dB of gain (the Q15 multiply runs)
 *   mic_wire         mic_gain + the packet packed as VoiceAssistantAudio and
 *                    Noise-encrypted, as the API task does before the socket write
 *   speaker          howdy_speaker_tick + howdy_speaker_feed of 1024-byte
 *                    chunks (one per 3.2 frames), volume 100 %
 *   speaker_vol      the same at volume 50 % (the Q15 multiply runs)
 *   speaker_wire     speaker_vol + each chunk Noise-decrypted and unpacked
 *                    from VoiceAssistantAudio, as the API task does on receipt
 *
 * Benchmark only: not a test, not part of the firmware.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <valgrind/callgrind.h>

#include "howdy/audio_path.h"
#include "howdy/noise.h"
#include "howdy/proto.h"
#include "howdy_api.pb-c.h"

#define WARMUP_FRAMES 64
#define NOISE_MSG_HEADER 4u /* type(2) + length(2), encrypted with the payload */

static howdy_audio_path_t audio;
static uint64_t fake_now;

static uint64_t bench_clock(void *ctx) {
  (void)ctx;
  return fake_now += 7;
}

/* A reproducible, speech-like level signal: a slow sweep plus LCG noise. */
static uint32_t lcg_state = 12345u;
static int16_t next_sample(uint32_t n) {
  lcg_state = lcg_state * 1664525u + 1013904223u;
  int32_t noise = (int32_t)(lcg_state >> 20) - 2048;           /* +-2048 */
  int32_t tri = (int32_t)((n * 37u) % 8192u) - 4096;           /* +-4096 */
  return (int16_t)(tri + noise);
}

static void fill_frame(int16_t *pcm, uint32_t frame) {
  for (uint32_t i = 0; i < HOWDY_AUDIO_FRAME_SAMPLES; i++) {
    pcm[i] = next_sample(frame * HOWDY_AUDIO_FRAME_SAMPLES + i);
  }
}

static int usage(const char *argv0) {
  fprintf(stderr,
          "usage: %s memcpy|mic|mic_gain|mic_wire|speaker|speaker_vol|speaker_wire FRAMES\n",
          argv0);
  return 2;
}

/* --- baseline ----------------------------------------------------------- */

static int run_memcpy(long frames) {
  static int16_t src[HOWDY_AUDIO_FRAME_SAMPLES];
  static int16_t dst[HOWDY_AUDIO_FRAME_SAMPLES];
  for (long f = 0; f < frames; f++) {
    fill_frame(src, (uint32_t)f);
    CALLGRIND_TOGGLE_COLLECT;
    memcpy(dst, src, sizeof dst);
    __asm__ __volatile__("" : : "r"(dst) : "memory"); /* keep the copy */
    CALLGRIND_TOGGLE_COLLECT;
  }
  printf("frames=%ld last=%d\n", frames, dst[0]);
  return 0;
}

/* --- microphone --------------------------------------------------------- */

static int run_mic(long frames, int gain_db, int wire) {
  static int16_t pcm[HOWDY_AUDIO_FRAME_SAMPLES];
  static howdy_mic_packet_t pkt;
  static uint8_t tx[NOISE_MSG_HEADER + HOWDY_MIC_PACKET_BYTES + 64 + HOWDY_NOISE_TAG_LEN];
  howdy_noise_cipher_t send = {.n = 0, .has_key = true};
  memset(send.k, 0x42, sizeof send.k);

  howdy_mic_set_gain_db(&audio.mic, gain_db);
  uint64_t t = 1000000;
  /* Warm-up: fill the pre-roll, start a session, drain the pre-roll packets. */
  for (int f = 0; f < WARMUP_FRAMES; f++, t += 10000) {
    fill_frame(pcm, (uint32_t)f);
    howdy_mic_process(&audio.mic, pcm, t);
  }
  howdy_mic_stream_start(&audio.mic);
  fill_frame(pcm, 0);
  howdy_mic_process(&audio.mic, pcm, t);
  t += 10000;
  while (howdy_mic_take_packet(&audio.mic, &pkt)) howdy_mic_packet_sent(&audio.mic, &pkt, t);

  unsigned long packets = 0, bytes = 0;
  for (long f = 0; f < frames; f++, t += 10000) {
    fill_frame(pcm, (uint32_t)(f + WARMUP_FRAMES));
    CALLGRIND_TOGGLE_COLLECT;
    howdy_mic_process(&audio.mic, pcm, t);
    while (howdy_mic_take_packet(&audio.mic, &pkt)) {
      if (wire) {
        Howdy__VoiceAssistantAudio msg = HOWDY__VOICE_ASSISTANT_AUDIO__INIT;
        msg.data.data = pkt.pcm;
        msg.data.len = pkt.bytes;
        bool ok = true;
        size_t n = howdy_proto_pack((const ProtobufCMessage *)&msg, tx + NOISE_MSG_HEADER,
                                    sizeof tx - NOISE_MSG_HEADER - HOWDY_NOISE_TAG_LEN, &ok);
        tx[0] = (uint8_t)(HOWDY_MSG_VOICE_ASSISTANT_AUDIO >> 8);
        tx[1] = (uint8_t)HOWDY_MSG_VOICE_ASSISTANT_AUDIO;
        tx[2] = (uint8_t)(n >> 8);
        tx[3] = (uint8_t)n;
        if (!ok || howdy_noise_encrypt(&send, NULL, 0, tx, NOISE_MSG_HEADER + n, tx) !=
                       HOWDY_NOISE_OK) {
          CALLGRIND_TOGGLE_COLLECT;
          fprintf(stderr, "frame_cost: packing or encryption failed\n");
          return 1;
        }
        bytes += NOISE_MSG_HEADER + n + HOWDY_NOISE_TAG_LEN;
      }
      howdy_mic_packet_sent(&audio.mic, &pkt, t + 500);
      packets++;
    }
    CALLGRIND_TOGGLE_COLLECT;
  }
  printf("frames=%ld packets=%lu wire_bytes=%lu dropped=%lu\n", frames, packets, bytes,
         (unsigned long)howdy_audio_metrics_mic_dropped(&audio.metrics));
  return packets == 0 ? 1 : 0;
}

/* --- speaker ------------------------------------------------------------ */

static int run_speaker(long frames, float volume, int wire) {
  static int16_t out[HOWDY_AUDIO_FRAME_SAMPLES];
  static uint8_t chunk[HOWDY_POOL_SLOT_BYTES];
  static uint8_t wire_buf[NOISE_MSG_HEADER + HOWDY_POOL_SLOT_BYTES + 64 + HOWDY_NOISE_TAG_LEN];
  static uint8_t plain[sizeof wire_buf];
  static uint8_t arena_mem[2048 + HOWDY_POOL_SLOT_BYTES];
  howdy_arena_t arena;
  howdy_arena_init(&arena, arena_mem, sizeof arena_mem);
  /* Home Assistant's sending cipher and the device's receiving one share a key. */
  howdy_noise_cipher_t ha_send = {.n = 0, .has_key = true};
  howdy_noise_cipher_t recv = {.n = 0, .has_key = true};
  memset(ha_send.k, 0x24, sizeof ha_send.k);
  memset(recv.k, 0x24, sizeof recv.k);

  howdy_speaker_set_volume(&audio.speaker, volume);
  uint64_t t = 1000000;
  uint32_t sample = 0;
  /* Keep the pool about half full, as the integration's pacing does. */
  const uint32_t keep_slots = HOWDY_POOL_SLOTS / 2;
  unsigned long chunks = 0;
  uint32_t events = 0;
  howdy_speaker_stream_begin(&audio.speaker);
  for (long f = -WARMUP_FRAMES; f < frames; f++, t += 10000) {
    howdy_pool_stats_t ps;
    howdy_pool_stats(&audio.pool, &ps);
    while (ps.in_use < keep_slots) {
      for (size_t i = 0; i < sizeof chunk; i += 2) {
        int16_t s = next_sample(sample++);
        chunk[i] = (uint8_t)s;
        chunk[i + 1] = (uint8_t)((uint16_t)s >> 8);
      }
      size_t wire_len = 0;
      if (wire) { /* Home Assistant's side: not counted */
        Howdy__VoiceAssistantAudio msg = HOWDY__VOICE_ASSISTANT_AUDIO__INIT;
        msg.data.data = chunk;
        msg.data.len = sizeof chunk;
        bool ok = true;
        size_t n = howdy_proto_pack((const ProtobufCMessage *)&msg, wire_buf + NOISE_MSG_HEADER,
                                    sizeof wire_buf - NOISE_MSG_HEADER - HOWDY_NOISE_TAG_LEN, &ok);
        wire_buf[0] = (uint8_t)(HOWDY_MSG_VOICE_ASSISTANT_AUDIO >> 8);
        wire_buf[1] = (uint8_t)HOWDY_MSG_VOICE_ASSISTANT_AUDIO;
        wire_buf[2] = (uint8_t)(n >> 8);
        wire_buf[3] = (uint8_t)n;
        if (!ok || howdy_noise_encrypt(&ha_send, NULL, 0, wire_buf, NOISE_MSG_HEADER + n,
                                       wire_buf) != HOWDY_NOISE_OK) {
          fprintf(stderr, "frame_cost: reply chunk packing failed\n");
          return 1;
        }
        wire_len = NOISE_MSG_HEADER + n + HOWDY_NOISE_TAG_LEN;
      }
      if (f >= 0) CALLGRIND_TOGGLE_COLLECT;
      int fed;
      if (wire) {
        ProtobufCMessage *m = NULL;
        if (howdy_noise_decrypt(&recv, NULL, 0, wire_buf, wire_len, plain) != HOWDY_NOISE_OK ||
            howdy_proto_unpack(&arena, HOWDY_MSG_VOICE_ASSISTANT_AUDIO, plain + NOISE_MSG_HEADER,
                               wire_len - NOISE_MSG_HEADER - HOWDY_NOISE_TAG_LEN,
                               &m) != HOWDY_PROTO_OK) {
          if (f >= 0) CALLGRIND_TOGGLE_COLLECT;
          fprintf(stderr, "frame_cost: reply chunk decryption failed\n");
          return 1;
        }
        const Howdy__VoiceAssistantAudio *a = (const Howdy__VoiceAssistantAudio *)m;
        fed = howdy_speaker_feed(&audio.speaker, a->data.data, a->data.len, t);
      } else {
        fed = howdy_speaker_feed(&audio.speaker, chunk, sizeof chunk, t);
      }
      if (f >= 0) CALLGRIND_TOGGLE_COLLECT;
      if (fed != (int)sizeof chunk) {
        fprintf(stderr, "frame_cost: feed accepted %d of %zu bytes\n", fed, sizeof chunk);
        return 1;
      }
      if (f >= 0) chunks++;
      howdy_pool_stats(&audio.pool, &ps);
    }
    if (f >= 0) CALLGRIND_TOGGLE_COLLECT;
    uint32_t evt = howdy_speaker_tick(&audio.speaker, t, out);
    if (f >= 0) CALLGRIND_TOGGLE_COLLECT;
    events |= evt;
  }
  printf("frames=%ld chunks=%lu underruns=%lu overruns=%lu\n", frames, chunks,
         (unsigned long)howdy_audio_metrics_underruns(&audio.metrics),
         (unsigned long)howdy_audio_metrics_overruns(&audio.metrics));
  return (events & HOWDY_SPK_EVT_UNDERRUN) ? 1 : 0;
}

int main(int argc, char **argv) {
  if (argc != 3) return usage(argv[0]);
  long frames = strtol(argv[2], NULL, 10);
  if (frames <= 0) return usage(argv[0]);
  howdy_audio_path_init(&audio, bench_clock, NULL);
  const char *mode = argv[1];
  if (!strcmp(mode, "memcpy")) return run_memcpy(frames);
  if (!strcmp(mode, "mic")) return run_mic(frames, 0, 0);
  if (!strcmp(mode, "mic_gain")) return run_mic(frames, 12, 0);
  if (!strcmp(mode, "mic_wire")) return run_mic(frames, 12, 1);
  if (!strcmp(mode, "speaker")) return run_speaker(frames, 100.0f, 0);
  if (!strcmp(mode, "speaker_vol")) return run_speaker(frames, 50.0f, 0);
  if (!strcmp(mode, "speaker_wire")) return run_speaker(frames, 50.0f, 1);
  return usage(argv[0]);
}
