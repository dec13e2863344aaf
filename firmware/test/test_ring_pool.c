/* The SPSC ring and the reply-audio block pool: edges, wraparound, counters. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "howdy/audio_pool.h"
#include "howdy/platform.h"
#include "howdy/ring.h"

/* ---- ring ----------------------------------------------------------------------- */

static void test_ring_init_rejects_bad_capacity(void **state) {
  (void)state;
  howdy_ring_t r;
  uint8_t buf[16];
  assert_int_equal(howdy_ring_init(&r, buf, 0), HOWDY_ERR_INVALID);
  assert_int_equal(howdy_ring_init(&r, buf, 3), HOWDY_ERR_INVALID);
  assert_int_equal(howdy_ring_init(&r, buf, 12), HOWDY_ERR_INVALID);
  assert_int_equal(howdy_ring_init(&r, NULL, 16), HOWDY_ERR_INVALID);
  assert_int_equal(howdy_ring_init(&r, buf, 1), HOWDY_OK);
  assert_int_equal(howdy_ring_init(&r, buf, 16), HOWDY_OK);
  assert_int_equal(howdy_ring_capacity(&r), 16);
}

static void test_ring_empty_and_full_edges(void **state) {
  (void)state;
  howdy_ring_t r;
  uint8_t buf[8];
  uint8_t tmp[16];
  howdy_ring_init(&r, buf, sizeof buf);
  assert_int_equal(howdy_ring_available(&r), 0);
  assert_int_equal(howdy_ring_free(&r), 8);
  assert_int_equal(howdy_ring_read(&r, tmp, 1), 0);
  assert_int_equal(howdy_ring_peek(&r, tmp, 1), 0);
  assert_int_equal(howdy_ring_skip(&r, 1), 0);

  /* Every byte of the capacity is usable: full means write - read == cap. */
  const uint8_t src[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  assert_int_equal(howdy_ring_write(&r, src, 9), 8);
  assert_int_equal(howdy_ring_available(&r), 8);
  assert_int_equal(howdy_ring_free(&r), 0);
  assert_int_equal(howdy_ring_write(&r, src, 1), 0);

  /* One byte out makes exactly one byte of room. */
  assert_int_equal(howdy_ring_read(&r, tmp, 1), 1);
  assert_int_equal(tmp[0], 1);
  assert_int_equal(howdy_ring_free(&r), 1);
  assert_int_equal(howdy_ring_write(&r, src + 8, 5), 1);
  assert_int_equal(howdy_ring_read(&r, tmp, 16), 8);
  const uint8_t want[8] = {2, 3, 4, 5, 6, 7, 8, 9};
  assert_memory_equal(tmp, want, 8);
  assert_int_equal(howdy_ring_available(&r), 0);
  assert_int_equal(howdy_ring_free(&r), 8);
}

/* Writes and reads of every length 1..cap at every starting offset: the
 * bytes come out in order and the counts stay exact across the wrap. */
static void test_ring_every_size_and_offset(void **state) {
  (void)state;
  enum { CAP = 16 };
  uint8_t buf[CAP];
  uint8_t in[CAP], out[CAP];
  for (size_t offset = 0; offset < CAP; offset++) {
    for (size_t len = 1; len <= CAP; len++) {
      howdy_ring_t r;
      howdy_ring_init(&r, buf, CAP);
      memset(buf, 0xEE, sizeof buf);
      /* Move the positions to `offset`. */
      for (size_t i = 0; i < offset; i++) in[i] = 0;
      assert_int_equal(howdy_ring_write(&r, in, offset), offset);
      assert_int_equal(howdy_ring_skip(&r, offset), offset);
      for (size_t i = 0; i < len; i++) in[i] = (uint8_t)(offset * 31 + i * 7 + 1);
      assert_int_equal(howdy_ring_write(&r, in, len), len);
      assert_int_equal(howdy_ring_available(&r), len);
      assert_int_equal(howdy_ring_free(&r), CAP - len);
      memset(out, 0, sizeof out);
      assert_int_equal(howdy_ring_peek(&r, out, len), len);
      assert_memory_equal(out, in, len);
      assert_int_equal(howdy_ring_available(&r), len); /* peek keeps */
      memset(out, 0, sizeof out);
      assert_int_equal(howdy_ring_read(&r, out, CAP), len);
      assert_memory_equal(out, in, len);
      assert_int_equal(howdy_ring_available(&r), 0);
    }
  }
}

/* The positions are free-running size_t counters: start them right below the
 * wrap of size_t and stream through it. */
static void test_ring_counter_wrap(void **state) {
  (void)state;
  howdy_ring_t r;
  uint8_t buf[4];
  howdy_ring_init(&r, buf, sizeof buf);
  atomic_store(&r.write_pos, SIZE_MAX - 5);
  atomic_store(&r.read_pos, SIZE_MAX - 5);
  uint8_t next_in = 0, next_out = 0;
  for (int round = 0; round < 20; round++) {
    uint8_t chunk[3];
    for (int i = 0; i < 3; i++) chunk[i] = next_in++;
    assert_int_equal(howdy_ring_write(&r, chunk, 3), 3);
    assert_int_equal(howdy_ring_available(&r), 3);
    assert_int_equal(howdy_ring_free(&r), 1);
    uint8_t got[3];
    assert_int_equal(howdy_ring_read(&r, got, 3), 3);
    for (int i = 0; i < 3; i++) assert_int_equal(got[i], next_out++);
  }
}

static void test_ring_clear_and_skip(void **state) {
  (void)state;
  howdy_ring_t r;
  uint8_t buf[8];
  howdy_ring_init(&r, buf, sizeof buf);
  const uint8_t src[6] = {1, 2, 3, 4, 5, 6};
  howdy_ring_write(&r, src, 6);
  assert_int_equal(howdy_ring_skip(&r, 2), 2);
  uint8_t b;
  howdy_ring_peek(&r, &b, 1);
  assert_int_equal(b, 3);
  assert_int_equal(howdy_ring_skip(&r, 100), 4);
  howdy_ring_write(&r, src, 5);
  howdy_ring_clear(&r);
  assert_int_equal(howdy_ring_available(&r), 0);
  assert_int_equal(howdy_ring_free(&r), 8);
}


/* Two real threads: a producer writing a byte sequence in varying piece
 * sizes and a consumer checking it, over a ring much smaller than the data,
 * so every full and empty edge is crossed many times concurrently. */
enum { STRESS_BYTES = 1 << 20 };
static howdy_ring_t stress_ring;
static uint8_t stress_buf[64];

static void *stress_producer(void *arg) {
  (void)arg;
  uint32_t sent = 0, piece = 1;
  uint8_t chunk[40];
  while (sent < STRESS_BYTES) {
    uint32_t n = piece;
    if (n > STRESS_BYTES - sent) n = STRESS_BYTES - sent;
    for (uint32_t i = 0; i < n; i++) chunk[i] = (uint8_t)((sent + i) * 13u);
    size_t done = 0;
    while (done < n) done += howdy_ring_write(&stress_ring, chunk + done, n - done);
    sent += n;
    piece = piece % 37u + 1u;
  }
  return NULL;
}

static void test_ring_two_threads(void **state) {
  (void)state;
  howdy_ring_init(&stress_ring, stress_buf, sizeof stress_buf);
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, stress_producer, NULL), 0);
  uint32_t got = 0, piece = 5, errors = 0;
  uint8_t chunk[50];
  while (got < STRESS_BYTES) {
    size_t n = howdy_ring_read(&stress_ring, chunk, piece);
    for (size_t i = 0; i < n; i++) {
      if (chunk[i] != (uint8_t)((got + i) * 13u)) errors++;
    }
    got += (uint32_t)n;
    piece = piece % 50u + 1u;
  }
  pthread_join(th, NULL);
  assert_int_equal(errors, 0);
  assert_int_equal(howdy_ring_available(&stress_ring), 0);
}

/* ---- pool --------------------------------------------------------------------- */

static howdy_pool_t pool;

static void test_pool_geometry_defaults(void **state) {
  (void)state;
  howdy_pool_init(&pool);
  howdy_pool_stats_t st;
  howdy_pool_stats(&pool, &st);
  assert_int_equal(st.slots, HOWDY_POOL_SLOTS);
  assert_int_equal(st.slot_bytes, HOWDY_POOL_SLOT_BYTES);
  assert_int_equal(st.in_use, 0);
  assert_int_equal(st.attempts, 0);
  float rate;
  assert_false(howdy_pool_hit_rate(&pool, &rate)); /* no attempt: no rate */
  assert_int_equal(HOWDY_POOL_INDEX_RING >= HOWDY_POOL_SLOTS, 1);
  assert_int_equal(HOWDY_POW2_CEIL(1), 1);
  assert_int_equal(HOWDY_POW2_CEIL(8), 8);
  assert_int_equal(HOWDY_POW2_CEIL(9), 16);
  assert_int_equal(HOWDY_POW2_CEIL(255), 256);
}

static void test_pool_full_and_empty_edges(void **state) {
  (void)state;
  howdy_pool_init(&pool);
  howdy_pool_slot_t *got[HOWDY_POOL_SLOTS];
  assert_null(howdy_pool_peek(&pool));
  assert_null(howdy_pool_take(&pool));
  for (uint32_t i = 0; i < HOWDY_POOL_SLOTS; i++) {
    got[i] = howdy_pool_alloc(&pool);
    assert_non_null(got[i]);
    for (uint32_t j = 0; j < i; j++) assert_ptr_not_equal(got[i], got[j]);
  }
  /* Full: the next attempt fails and is counted as an overrun. */
  assert_null(howdy_pool_alloc(&pool));
  assert_null(howdy_pool_alloc(&pool));
  howdy_pool_stats_t st;
  howdy_pool_stats(&pool, &st);
  assert_int_equal(st.attempts, HOWDY_POOL_SLOTS + 2);
  assert_int_equal(st.allocs, HOWDY_POOL_SLOTS);
  assert_int_equal(st.failures, 2);
  assert_int_equal(st.high_water, HOWDY_POOL_SLOTS);
  assert_int_equal(st.in_use, HOWDY_POOL_SLOTS);

  /* Submitted slots come out in submission order (not allocation order). */
  for (uint32_t i = 0; i < HOWDY_POOL_SLOTS; i++) {
    howdy_pool_slot_t *s = got[HOWDY_POOL_SLOTS - 1 - i];
    s->len = i + 1;
    howdy_pool_submit(&pool, s);
  }
  assert_int_equal(howdy_pool_filled(&pool), HOWDY_POOL_SLOTS);
  for (uint32_t i = 0; i < HOWDY_POOL_SLOTS; i++) {
    assert_ptr_equal(howdy_pool_peek(&pool), got[HOWDY_POOL_SLOTS - 1 - i]);
    howdy_pool_slot_t *s = howdy_pool_take(&pool);
    assert_int_equal(s->len, i + 1);
    howdy_pool_release(&pool, s);
  }
  assert_null(howdy_pool_take(&pool));
  howdy_pool_stats(&pool, &st);
  assert_int_equal(st.in_use, 0);

  /* Released slots are usable again, and a fresh slot is clean. */
  howdy_pool_slot_t *s = howdy_pool_alloc(&pool);
  assert_non_null(s);
  assert_int_equal(s->len, 0);
  assert_false(s->chunk_start);
}

static void test_pool_high_water_and_hit_rate(void **state) {
  (void)state;
  howdy_pool_init(&pool);
  /* Steady state of 3 in flight: high water 3, hit rate 100 %. */
  howdy_pool_slot_t *a = howdy_pool_alloc(&pool);
  howdy_pool_slot_t *b = howdy_pool_alloc(&pool);
  howdy_pool_slot_t *c = howdy_pool_alloc(&pool);
  howdy_pool_submit(&pool, a);
  howdy_pool_submit(&pool, b);
  howdy_pool_submit(&pool, c);
  for (int i = 0; i < 10; i++) {
    howdy_pool_release(&pool, howdy_pool_take(&pool));
    howdy_pool_slot_t *s = howdy_pool_alloc(&pool);
    assert_non_null(s);
    howdy_pool_submit(&pool, s);
  }
  howdy_pool_stats_t st;
  howdy_pool_stats(&pool, &st);
  assert_int_equal(st.high_water, 3);
  float rate;
  assert_true(howdy_pool_hit_rate(&pool, &rate));
  assert_float_equal(rate, 100.0f, 1e-6);

  /* Fill up, then 3 failures among the attempts. */
  while (howdy_pool_alloc(&pool)) {
  }
  howdy_pool_alloc(&pool);
  howdy_pool_alloc(&pool);
  howdy_pool_stats(&pool, &st);
  assert_int_equal(st.high_water, HOWDY_POOL_SLOTS);
  assert_int_equal(st.failures, 3);
  assert_true(howdy_pool_hit_rate(&pool, &rate));
  assert_float_equal(rate, 100.0f * (float)st.allocs / (float)st.attempts, 1e-4);
  assert_int_equal(st.attempts, st.allocs + st.failures);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ring_init_rejects_bad_capacity),
      cmocka_unit_test(test_ring_empty_and_full_edges),
      cmocka_unit_test(test_ring_every_size_and_offset),
      cmocka_unit_test(test_ring_counter_wrap),
      cmocka_unit_test(test_ring_clear_and_skip),
      cmocka_unit_test(test_ring_two_threads),
      cmocka_unit_test(test_pool_geometry_defaults),
      cmocka_unit_test(test_pool_full_and_empty_edges),
      cmocka_unit_test(test_pool_high_water_and_hit_rate),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
