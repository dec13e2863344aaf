/* Fixed block pool for reply audio (see howdy/audio_pool.h). */
#include "howdy/audio_pool.h"

#include <string.h>

static uint8_t slot_index(const howdy_pool_t *p, const howdy_pool_slot_t *s) {
  return (uint8_t)(s - p->slots);
}

void howdy_pool_init(howdy_pool_t *p) {
  /* The index rings are sized by a constant expression, so they are valid
   * powers of two by construction; init cannot fail here. */
  (void)howdy_ring_init(&p->free_ring, p->free_storage, sizeof p->free_storage);
  (void)howdy_ring_init(&p->filled_ring, p->filled_storage, sizeof p->filled_storage);
  for (uint32_t i = 0; i < HOWDY_POOL_SLOTS; i++) {
    uint8_t idx = (uint8_t)i;
    p->slots[i].len = 0;
    p->slots[i].arrival_us = 0;
    p->slots[i].stream = 0;
    p->slots[i].chunk_start = false;
    howdy_ring_write(&p->free_ring, &idx, 1);
  }
  atomic_init(&p->attempts, 0);
  atomic_init(&p->allocs, 0);
  atomic_init(&p->failures, 0);
  atomic_init(&p->high_water, 0);
}

/* Counters have a single writer (the producer), so a relaxed load + store
 * is an increment; other tasks only ever read them. */
static void bump(atomic_uint_least32_t *c) {
  atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1u,
                        memory_order_relaxed);
}

howdy_pool_slot_t *howdy_pool_alloc(howdy_pool_t *p) {
  bump(&p->attempts);
  uint8_t idx;
  if (howdy_ring_read(&p->free_ring, &idx, 1) != 1) {
    bump(&p->failures);
    return NULL;
  }
  bump(&p->allocs);
  uint32_t in_use = HOWDY_POOL_SLOTS - (uint32_t)howdy_ring_available(&p->free_ring);
  if (in_use > atomic_load_explicit(&p->high_water, memory_order_relaxed)) {
    atomic_store_explicit(&p->high_water, in_use, memory_order_relaxed);
  }
  howdy_pool_slot_t *s = &p->slots[idx];
  s->len = 0;
  s->arrival_us = 0;
  s->stream = 0;
  s->chunk_start = false;
  return s;
}

void howdy_pool_submit(howdy_pool_t *p, howdy_pool_slot_t *slot) {
  uint8_t idx = slot_index(p, slot);
  /* Cannot fail: at most HOWDY_POOL_SLOTS indices exist in both rings
   * together, and each ring holds at least that many. */
  (void)howdy_ring_write(&p->filled_ring, &idx, 1);
}

howdy_pool_slot_t *howdy_pool_peek(howdy_pool_t *p) {
  uint8_t idx;
  if (howdy_ring_peek(&p->filled_ring, &idx, 1) != 1) return NULL;
  return &p->slots[idx];
}

howdy_pool_slot_t *howdy_pool_take(howdy_pool_t *p) {
  uint8_t idx;
  if (howdy_ring_read(&p->filled_ring, &idx, 1) != 1) return NULL;
  return &p->slots[idx];
}

void howdy_pool_release(howdy_pool_t *p, howdy_pool_slot_t *slot) {
  uint8_t idx = slot_index(p, slot);
  (void)howdy_ring_write(&p->free_ring, &idx, 1);
}

size_t howdy_pool_filled(const howdy_pool_t *p) { return howdy_ring_available(&p->filled_ring); }

void howdy_pool_stats(const howdy_pool_t *p, howdy_pool_stats_t *out) {
  memset(out, 0, sizeof *out);
  out->slots = HOWDY_POOL_SLOTS;
  out->slot_bytes = HOWDY_POOL_SLOT_BYTES;
  out->in_use = HOWDY_POOL_SLOTS - (uint32_t)howdy_ring_available(&p->free_ring);
  out->filled = (uint32_t)howdy_ring_available(&p->filled_ring);
  out->attempts = atomic_load_explicit(&p->attempts, memory_order_relaxed);
  out->allocs = atomic_load_explicit(&p->allocs, memory_order_relaxed);
  out->failures = atomic_load_explicit(&p->failures, memory_order_relaxed);
  out->high_water = atomic_load_explicit(&p->high_water, memory_order_relaxed);
}

bool howdy_pool_hit_rate(const howdy_pool_t *p, float *percent) {
  /* Read allocs first: attempts can only have grown since, so the ratio can
   * never exceed 100 % when another task is allocating meanwhile. */
  uint32_t allocs = atomic_load_explicit(&p->allocs, memory_order_relaxed);
  uint32_t attempts = atomic_load_explicit(&p->attempts, memory_order_relaxed);
  if (attempts == 0) return false;
  *percent = 100.0f * (float)allocs / (float)attempts;
  return true;
}
