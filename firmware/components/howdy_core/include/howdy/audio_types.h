/*
 * Geometry shared by every module of the audio path: the wire format is fixed
 * by the protocol (16 kHz, signed 16-bit little-endian, mono), and the audio
 * tasks run in 10 ms frames because that is the period of the I2S DMA
 * callbacks on the device and the unit most VAD/AFE stages consume.
 */
#ifndef HOWDY_AUDIO_TYPES_H
#define HOWDY_AUDIO_TYPES_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HOWDY_AUDIO_RATE_HZ 16000u
#define HOWDY_AUDIO_BYTES_PER_SAMPLE 2u
#define HOWDY_AUDIO_FRAME_MS 10u
#define HOWDY_AUDIO_FRAME_SAMPLES (HOWDY_AUDIO_RATE_HZ * HOWDY_AUDIO_FRAME_MS / 1000u)
#define HOWDY_AUDIO_FRAME_BYTES (HOWDY_AUDIO_FRAME_SAMPLES * HOWDY_AUDIO_BYTES_PER_SAMPLE)

/* Unity gain in Q15: the paths keep gains in an int32 so that values above
 * 1.0 (microphone make-up gain) use the same scale. */
#define HOWDY_Q15_ONE 32768

/* A monotonic clock in microseconds. The paths take one by pointer so that
 * tests drive them with a fake clock and the device with howdy_time_us(). */
typedef uint64_t (*howdy_clock_fn)(void *ctx);

/* Microseconds from the start of a frame to its sample at index k: the
 * offset used to date individual samples inside a 10 ms frame. */
static inline uint64_t howdy_audio_sample_offset_us(uint32_t k) {
  return (uint64_t)k * 1000000u / HOWDY_AUDIO_RATE_HZ;
}

#ifdef __cplusplus
}
#endif

#endif /* HOWDY_AUDIO_TYPES_H */
