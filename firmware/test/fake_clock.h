/* A fake clock for the audio path tests: each reading returns the current
 * time and advances it by `step`, so a measurement that reads the clock
 * twice per frame sees exactly one step. Pass fake_clock and a
 * fake_clock_t * where the paths take a clock callback and its context. */
#ifndef HOWDY_TEST_FAKE_CLOCK_H
#define HOWDY_TEST_FAKE_CLOCK_H

#include <stdint.h>

typedef struct {
  uint64_t now;
  uint64_t step;
} fake_clock_t;

static inline uint64_t fake_clock(void *ctx) {
  fake_clock_t *c = ctx;
  uint64_t t = c->now;
  c->now += c->step;
  return t;
}

#endif
