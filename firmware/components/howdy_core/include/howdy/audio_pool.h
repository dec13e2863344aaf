/*
 * Fixed block pool for reply audio.
 *
 * HOWDY_POOL_SLOTS slots of HOWDY_POOL_SLOT_BYTES each, embedded in the
 * howdy_pool_t (so the caller decides where the memory lives: a static in
 * internal RAM on the device). Nothing is allocated at run time.
 *
 * Two tasks share a pool without a lock:
 *   the producer (the network task receiving VoiceAssistantAudio)
 *     howdy_pool_alloc -> fill the slot -> howdy_pool_submit
 *   the consumer (the output task)
 *     howdy_pool_peek / howdy_pool_take -> play -> howdy_pool_release
 * Free slot indices travel from consumer to producer in one SPSC ring, filled
 * slot indices from producer to consumer in another (the filled ring is the
 * "play ring": it keeps the order in which chunks arrived, and holds slot
 * numbers rather than copies of the audio).
 *
 * Counters (all written by the producer, readable from any task):
 *   attempts    every howdy_pool_alloc call
 *   allocs      calls that found a free slot
 *   failures    calls that found the pool full: an overrun, the chunk (or the
 *               part of it that needed this slot) is dropped
 *   high_water  the largest number of slots in use seen right after an
 *               allocation (in use = allocated and not yet released)
 *   hit rate    allocs / attempts
 * "In use" is computed by the producer from what the consumer has released
 * so far; while a release races with an allocation it may read one slot too
 * high, never too low, so the high-water mark errs on the safe side.
 */
#ifndef HOWDY_AUDIO_POOL_H
#define HOWDY_AUDIO_POOL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "howdy/ring.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifndef HOWDY_POOL_SLOT_BYTES
#define HOWDY_POOL_SLOT_BYTES 1024u /* 512 samples = 32 ms at 16 kHz s16 mono */
#endif
/* 16 slots: the sender keeps half the pool ahead of playback and half free,
 * so chunks may arrive up to ~224 ms late or ~256 ms early (a link that held
 * the first chunk back and then delivers the rest in a bunch) without an
 * underrun or an overrun. With 8 slots, 100 ms of link jitter overflowed
 * (docs/performance.md, degraded link). */
#ifndef HOWDY_POOL_SLOTS
#define HOWDY_POOL_SLOTS 16u /* 16 x 32 ms = 512 ms of reply audio */
#endif

/* Slot numbers travel as single bytes, and a slot holds whole samples. */
_Static_assert(HOWDY_POOL_SLOTS >= 1 && HOWDY_POOL_SLOTS <= 255, "1..255 pool slots");
_Static_assert(HOWDY_POOL_SLOT_BYTES >= 2 && HOWDY_POOL_SLOT_BYTES % 2 == 0,
               "pool slots hold whole s16 samples");

/* Smallest power of two >= n (n >= 1), as a constant expression so it can
 * size the index rings. */
#define HOWDY_POW2_SMEAR_(x, s) ((x) | ((x) >> (s)))
#define HOWDY_POW2_CEIL(n)                                                               \
  (HOWDY_POW2_SMEAR_(HOWDY_POW2_SMEAR_(HOWDY_POW2_SMEAR_(HOWDY_POW2_SMEAR_(            \
                         HOWDY_POW2_SMEAR_((uint32_t)(n) - 1u, 1), 2), 4), 8), 16) + 1u)
#define HOWDY_POOL_INDEX_RING HOWDY_POW2_CEIL(HOWDY_POOL_SLOTS)

typedef struct {
  uint8_t data[HOWDY_POOL_SLOT_BYTES];
  uint32_t len;        /* bytes filled, 0 < len <= HOWDY_POOL_SLOT_BYTES */
  uint64_t arrival_us; /* when the audio in this slot arrived (producer's clock) */
  /* Owner-defined tags, carried untouched (the speaker path stores its stream
   * number and whether the slot starts a chunk). */
  uint16_t stream;
  bool chunk_start;
} howdy_pool_slot_t;

typedef struct {
  howdy_pool_slot_t slots[HOWDY_POOL_SLOTS];
  uint8_t free_storage[HOWDY_POOL_INDEX_RING];
  uint8_t filled_storage[HOWDY_POOL_INDEX_RING];
  howdy_ring_t free_ring;   /* consumer -> producer */
  howdy_ring_t filled_ring; /* producer -> consumer, arrival order */
  atomic_uint_least32_t attempts;
  atomic_uint_least32_t allocs;
  atomic_uint_least32_t failures;
  atomic_uint_least32_t high_water;
} howdy_pool_t;

typedef struct {
  uint32_t slots;      /* geometry of this pool */
  uint32_t slot_bytes;
  uint32_t in_use;     /* allocated and not released (producer's view) */
  uint32_t filled;     /* submitted and not yet taken by the consumer */
  uint32_t attempts;
  uint32_t allocs;
  uint32_t failures;
  uint32_t high_water;
} howdy_pool_stats_t;

/* All slots free, counters zero. Call before either task uses the pool. */
void howdy_pool_init(howdy_pool_t *p);

/* Producer. Returns a free slot (len 0) or NULL when the pool is full; both
 * outcomes are counted. */
howdy_pool_slot_t *howdy_pool_alloc(howdy_pool_t *p);
/* Producer. Queues a slot obtained from howdy_pool_alloc for the consumer. A
 * slot submitted with len 0 is simply released by the consumer. */
void howdy_pool_submit(howdy_pool_t *p, howdy_pool_slot_t *slot);

/* Consumer. The oldest filled slot, left queued; NULL when none. */
howdy_pool_slot_t *howdy_pool_peek(howdy_pool_t *p);
/* Consumer. Dequeues the oldest filled slot (then release it); NULL if none. */
howdy_pool_slot_t *howdy_pool_take(howdy_pool_t *p);
/* Consumer. Returns a taken slot to the free list. */
void howdy_pool_release(howdy_pool_t *p, howdy_pool_slot_t *slot);
/* Consumer. Filled slots waiting. */
size_t howdy_pool_filled(const howdy_pool_t *p);

/* Any task. */
void howdy_pool_stats(const howdy_pool_t *p, howdy_pool_stats_t *out);
/* allocs / attempts in percent; false before the first attempt (there is no
 * rate yet, and 100 % would be made up). */
bool howdy_pool_hit_rate(const howdy_pool_t *p, float *percent);

#ifdef __cplusplus
}
#endif

#endif /* HOWDY_AUDIO_POOL_H */
