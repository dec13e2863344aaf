/*
 * Unit tests for the simulator's mDNS packet layer (firmware/host/mdns_packet.c):
 * names, compression pointers and their loop protection, truncated and
 * malformed packets, the query planner and the response builder.
 * The responder's sockets are covered by tests/sim/test_discovery.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mdns_packet.h"

/* ---- helpers ------------------------------------------------------------------------ */

static mdns_name_t dotted(const char *text) {
  mdns_name_t n;
  mdns_name_clear(&n);
  assert_int_equal(mdns_name_append_dotted(&n, text), 0);
  return n;
}

static const mdns_txt_kv_t k_txt[] = {
    {"mac", "a0b1c2d3e4f5"},
    {"version", "0.1.0"},
    {"board", "sim"},
    {"friendly_name", "Howdy Kitchen"},
};

static void make_zone(mdns_zone_t *z) {
  assert_int_equal(mdns_zone_init(z, "Howdy Kitchen", "_howdyscreen._tcp", "Howdy-Kitchen", 6053,
                                  k_txt, 4),
                   0);
}

/* Builds a query: header, then the given questions (names written with the
 * packet writer, so they are compressed against each other). */
typedef struct {
  const char *name; /* dotted; the instance label "Howdy Kitchen" has no dot */
  const char *first_label; /* optional label prepended as one label (may hold spaces) */
  uint16_t type;
  bool qu;
} question_t;

static size_t build_query(uint8_t *buf, size_t cap, const question_t *qs, size_t n, uint16_t flags,
                          mdns_writer_t *out_writer) {
  mdns_writer_t w;
  mdns_writer_init(&w, buf, cap);
  mdns_write_u16(&w, 0x1234);
  mdns_write_u16(&w, flags);
  mdns_write_u16(&w, (uint16_t)n);
  mdns_write_u16(&w, 0);
  mdns_write_u16(&w, 0);
  mdns_write_u16(&w, 0);
  for (size_t i = 0; i < n; i++) {
    mdns_name_t name;
    mdns_name_clear(&name);
    if (qs[i].first_label) {
      assert_int_equal(mdns_name_append_label(&name, qs[i].first_label, strlen(qs[i].first_label)), 0);
    }
    assert_int_equal(mdns_name_append_dotted(&name, qs[i].name), 0);
    mdns_write_name(&w, &name);
    mdns_write_u16(&w, qs[i].type);
    mdns_write_u16(&w, (uint16_t)(MDNS_CLASS_IN | (qs[i].qu ? MDNS_CLASS_TOP_BIT : 0)));
  }
  assert_false(w.overflow);
  if (out_writer) *out_writer = w;
  return w.len;
}

static void set_count(uint8_t *pkt, int field, uint16_t v) {
  pkt[2 * field] = (uint8_t)(v >> 8);
  pkt[2 * field + 1] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }

/* A decoded resource record of a response, for assertions. */
typedef struct {
  mdns_name_t name;
  uint16_t type;
  uint16_t rrclass;
  uint32_t ttl;
  size_t rdata;
  uint16_t rdlen;
} rr_t;

/* Walks a response and decodes up to max records (answers then additionals). */
static size_t parse_records(const uint8_t *pkt, size_t len, rr_t *out, size_t max) {
  assert_true(len >= 12);
  size_t pos = 12;
  for (uint16_t q = 0; q < get16(&pkt[4]); q++) {
    mdns_name_t n;
    assert_int_equal(mdns_read_name(pkt, len, &pos, &n), 0);
    pos += 4;
  }
  size_t total = (size_t)get16(&pkt[6]) + get16(&pkt[8]) + get16(&pkt[10]);
  assert_true(total <= max);
  for (size_t i = 0; i < total; i++) {
    assert_int_equal(mdns_read_name(pkt, len, &pos, &out[i].name), 0);
    assert_true(pos + 10 <= len);
    out[i].type = get16(&pkt[pos]);
    out[i].rrclass = get16(&pkt[pos + 2]);
    out[i].ttl = ((uint32_t)get16(&pkt[pos + 4]) << 16) | get16(&pkt[pos + 6]);
    out[i].rdlen = get16(&pkt[pos + 8]);
    out[i].rdata = pos + 10;
    pos += 10 + out[i].rdlen;
    assert_true(pos <= len);
  }
  assert_int_equal(pos, len);
  return total;
}

/* ---- names --------------------------------------------------------------------------- */

static void test_name_encoding(void **state) {
  (void)state;
  mdns_name_t n = dotted("_howdyscreen._tcp.local.");
  static const uint8_t want[] = {12, '_', 'h', 'o', 'w', 'd', 'y', 's', 'c', 'r', 'e', 'e', 'n',
                                 4,  '_', 't', 'c', 'p', 5,   'l', 'o', 'c', 'a', 'l', 0};
  assert_int_equal(n.len, sizeof(want));
  assert_memory_equal(n.wire, want, sizeof(want));

  mdns_name_t upper = dotted("_HowdyScreen._TCP.Local");
  assert_true(mdns_name_equal(&n, &upper));
  mdns_name_t other = dotted("_howdyscreen._udp.local");
  assert_false(mdns_name_equal(&n, &other));

  /* One label may hold dots and spaces: it is still one label. */
  mdns_name_t inst;
  mdns_name_clear(&inst);
  assert_int_equal(mdns_name_append_label(&inst, "a.b c", 5), 0);
  assert_int_equal(inst.len, 7);
  char text[64];
  mdns_name_to_text(&inst, text, sizeof(text));
  assert_string_equal(text, "a.b c.");

  /* Limits: labels of 1..63 bytes, names of at most 255. */
  char label[64];
  memset(label, 'x', sizeof(label));
  assert_int_equal(mdns_name_append_label(&inst, label, 64), -1);
  assert_int_equal(mdns_name_append_label(&inst, label, 0), -1);
  mdns_name_t big;
  mdns_name_clear(&big);
  int ok = 0;
  while (mdns_name_append_label(&big, label, 63) == 0) ok++;
  assert_int_equal(ok, 3); /* 3 * 64 + 1 = 193; a fourth would need 257 */
  assert_true(big.len <= MDNS_NAME_WIRE_MAX);
  assert_int_equal(mdns_name_append_dotted(&big, "a..b"), -1); /* empty label */
}

static void test_read_name_plain_and_compressed(void **state) {
  (void)state;
  /* offset 0: "local" root; offset 7: "_tcp" -> ptr 0; offset 13: "x" -> ptr 7 */
  static const uint8_t pkt[] = {5, 'l', 'o', 'c', 'a', 'l', 0,           /* 0..6   */
                                4, '_', 't', 'c', 'p', 0xC0, 0x00,       /* 7..13  */
                                1, 'x', 0xC0, 0x07,                      /* 14..17 */
                                0xC0, 0x0E};                             /* 18..19 */
  mdns_name_t n;
  size_t pos = 0;
  assert_int_equal(mdns_read_name(pkt, sizeof(pkt), &pos, &n), 0);
  assert_int_equal(pos, 7);

  pos = 14;
  assert_int_equal(mdns_read_name(pkt, sizeof(pkt), &pos, &n), 0);
  assert_int_equal(pos, 18); /* just past the first pointer */
  mdns_name_t want = dotted("x._tcp.local");
  assert_true(mdns_name_equal(&n, &want));

  pos = 18; /* a name that is only a pointer, through a chain of two more */
  assert_int_equal(mdns_read_name(pkt, sizeof(pkt), &pos, &n), 0);
  assert_int_equal(pos, 20);
  assert_true(mdns_name_equal(&n, &want));
}

static void test_read_name_rejects_loops(void **state) {
  (void)state;
  mdns_name_t n;
  size_t pos;

  /* A pointer to itself. */
  static const uint8_t self[] = {0xC0, 0x00};
  pos = 0;
  assert_int_equal(mdns_read_name(self, sizeof(self), &pos, &n), -1);

  /* Two pointers to each other: 0 -> 2 is forward, refused at once. */
  static const uint8_t pair[] = {0xC0, 0x02, 0xC0, 0x00};
  pos = 0;
  assert_int_equal(mdns_read_name(pair, sizeof(pair), &pos, &n), -1);
  pos = 2; /* 2 -> 0 is backward, but 0 -> 2 then goes back up: refused */
  assert_int_equal(mdns_read_name(pair, sizeof(pair), &pos, &n), -1);

  /* A label followed by a pointer back to that label: each pointer is
   * "backward" from where it sits, yet it loops. */
  static const uint8_t label_loop[] = {1, 'a', 0xC0, 0x00};
  pos = 0;
  assert_int_equal(mdns_read_name(label_loop, sizeof(label_loop), &pos, &n), -1);
  pos = 2;
  assert_int_equal(mdns_read_name(label_loop, sizeof(label_loop), &pos, &n), -1);

  /* Forward pointer, even if it would lead to a valid name. */
  static const uint8_t fwd[] = {0xC0, 0x02, 0};
  pos = 0;
  assert_int_equal(mdns_read_name(fwd, sizeof(fwd), &pos, &n), -1);

  /* A long chain of valid backward pointers is cut by the hop limit. */
  uint8_t chain[2 + 2 * (MDNS_MAX_POINTER_HOPS + 2)];
  chain[0] = 0;
  chain[1] = 0;
  for (size_t i = 2; i + 1 < sizeof(chain); i += 2) {
    size_t target = i - 2;
    chain[i] = (uint8_t)(0xC0 | (target >> 8));
    chain[i + 1] = (uint8_t)target;
  }
  pos = sizeof(chain) - 2;
  assert_int_equal(mdns_read_name(chain, sizeof(chain), &pos, &n), -1);
  pos = 6; /* a short chain is fine */
  assert_int_equal(mdns_read_name(chain, sizeof(chain), &pos, &n), 0);
  assert_int_equal(n.len, 1);
}

static void test_read_name_rejects_truncated_and_bad(void **state) {
  (void)state;
  mdns_name_t n;
  size_t pos;
  static const uint8_t good[] = {3, 'a', 'b', 'c', 5, 'l', 'o', 'c', 'a', 'l', 0};
  for (size_t len = 0; len < sizeof(good); len++) {
    pos = 0;
    assert_int_equal(mdns_read_name(good, len, &pos, &n), -1);
    assert_int_equal(pos, 0); /* position untouched on failure */
  }
  pos = 0;
  assert_int_equal(mdns_read_name(good, sizeof(good), &pos, &n), 0);

  static const uint8_t half_pointer[] = {0, 0xC0};
  pos = 1;
  assert_int_equal(mdns_read_name(half_pointer, sizeof(half_pointer), &pos, &n), -1);

  static const uint8_t ext_label[] = {0x41, 'a', 0}; /* 0x40 label type */
  pos = 0;
  assert_int_equal(mdns_read_name(ext_label, sizeof(ext_label), &pos, &n), -1);
  static const uint8_t rsv_label[] = {0x81, 'a', 0};
  pos = 0;
  assert_int_equal(mdns_read_name(rsv_label, sizeof(rsv_label), &pos, &n), -1);

  /* A name longer than 255 bytes. */
  uint8_t longname[5 * 64 + 2];
  size_t o = 0;
  for (int l = 0; l < 5; l++) {
    longname[o++] = 63;
    memset(&longname[o], 'a' + l, 63);
    o += 63;
  }
  longname[o++] = 0;
  pos = 0;
  assert_int_equal(mdns_read_name(longname, o, &pos, &n), -1);
}

static void test_writer_compresses(void **state) {
  (void)state;
  uint8_t buf[256];
  mdns_writer_t w;
  mdns_writer_init(&w, buf, sizeof(buf));
  mdns_name_t a = dotted("_howdyscreen._tcp.local");
  mdns_name_t b = dotted("x._howdyscreen._tcp.local");
  mdns_name_t c = dotted("host.local");
  mdns_name_t d = dotted("_HOWDYSCREEN._tcp.local"); /* same name, other case */
  mdns_write_name(&w, &a);
  size_t after_a = w.len;
  assert_int_equal(after_a, a.len);
  mdns_write_name(&w, &b);
  assert_int_equal(w.len - after_a, 2 + 2); /* "x" + pointer */
  size_t after_b = w.len;
  mdns_write_name(&w, &c);
  assert_int_equal(w.len - after_b, 5 + 2); /* "host" + pointer to "local" */
  size_t after_c = w.len;
  mdns_write_name(&w, &d);
  assert_int_equal(w.len - after_c, 2); /* just a pointer */
  assert_false(w.overflow);

  /* Everything reads back to the original names. */
  mdns_name_t n;
  size_t pos = 0;
  const mdns_name_t *want[] = {&a, &b, &c, &d};
  for (size_t i = 0; i < 4; i++) {
    assert_int_equal(mdns_read_name(buf, w.len, &pos, &n), 0);
    assert_true(mdns_name_equal(&n, want[i]));
  }
  assert_int_equal(pos, w.len);

  /* Overflow is sticky and reported. */
  uint8_t small[8];
  mdns_writer_init(&w, small, sizeof(small));
  mdns_write_name(&w, &a);
  assert_true(w.overflow);
  mdns_write_u8(&w, 1);
  assert_true(w.overflow);
}

/* ---- zone ------------------------------------------------------------------------------ */

static void test_zone_and_txt(void **state) {
  (void)state;
  mdns_zone_t z;
  make_zone(&z);
  static const char want_txt[] = "\x10mac=a0b1c2d3e4f5\x0dversion=0.1.0\x09" "board=sim"
                                 "\x1b" "friendly_name=Howdy Kitchen";
  assert_int_equal(z.txt_len, sizeof(want_txt) - 1);
  assert_memory_equal(z.txt, want_txt, z.txt_len);
  assert_int_equal(z.instance.wire[0], 13); /* "Howdy Kitchen" is one label */
  mdns_name_t host = dotted("howdy-kitchen.local");
  assert_true(mdns_name_equal(&z.host, &host));

  /* Empty TXT is a single empty string; boolean attributes have no '='. */
  assert_int_equal(mdns_zone_init(&z, "a", "_x._tcp", "a", 1, NULL, 0), 0);
  assert_int_equal(z.txt_len, 1);
  assert_int_equal(z.txt[0], 0);
  const mdns_txt_kv_t flag = {"flag", NULL};
  assert_int_equal(mdns_zone_init(&z, "a", "_x._tcp", "a", 1, &flag, 1), 0);
  assert_int_equal(z.txt_len, 5);

  /* Refusals: '=' in a key, an oversized item, an instance over 63 bytes. */
  const mdns_txt_kv_t bad_key = {"a=b", "c"};
  assert_int_equal(mdns_zone_init(&z, "a", "_x._tcp", "a", 1, &bad_key, 1), -1);
  char big[300];
  memset(big, 'v', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  const mdns_txt_kv_t big_value = {"k", big};
  assert_int_equal(mdns_zone_init(&z, "a", "_x._tcp", "a", 1, &big_value, 1), -1);
  char long_inst[65];
  memset(long_inst, 'i', 64);
  long_inst[64] = '\0';
  assert_int_equal(mdns_zone_init(&z, long_inst, "_x._tcp", "a", 1, NULL, 0), -1);

  char label[64];
  mdns_host_label_from_instance("Howdy Kitchen (2).x", label, sizeof(label));
  assert_string_equal(label, "Howdy-Kitchen--2--x");
  mdns_host_label_from_instance("", label, sizeof(label));
  assert_string_equal(label, "h");
}

/* ---- planner ------------------------------------------------------------------------------ */

static void test_plan_service_ptr(void **state) {
  (void)state;
  mdns_zone_t z;
  make_zone(&z);
  uint8_t pkt[512];
  mdns_plan_t plan;
  uint32_t addr = 0x0100007F; /* 127.0.0.1 in network order on little endian */

  const question_t q[] = {{"_HowdyScreen._tcp.local", NULL, MDNS_TYPE_PTR, false}};
  size_t len = build_query(pkt, sizeof(pkt), q, 1, 0, NULL);
  assert_int_equal(mdns_plan_query(&z, pkt, len, addr, &plan), 1);
  assert_int_equal(plan.answers, MDNS_REC_PTR);
  assert_int_equal(plan.additionals,
                   MDNS_REC_SRV | MDNS_REC_TXT | MDNS_REC_A | MDNS_REC_NSEC_HOST);
  assert_false(plan.unicast_requested);
  assert_int_equal(plan.question_end, len);

  const question_t qu[] = {{"_howdyscreen._tcp.local", NULL, MDNS_TYPE_PTR, true}};
  len = build_query(pkt, sizeof(pkt), qu, 1, 0, NULL);
  assert_int_equal(mdns_plan_query(&z, pkt, len, addr, &plan), 1);
  assert_true(plan.unicast_requested);

  const question_t meta[] = {{"_services._dns-sd._udp.local", NULL, MDNS_TYPE_PTR, false}};
  len = build_query(pkt, sizeof(pkt), meta, 1, 0, NULL);
  assert_int_equal(mdns_plan_query(&z, pkt, len, addr, &plan), 1);
  assert_int_equal(plan.answers, MDNS_REC_META_PTR);
  assert_int_equal(plan.additionals, 0);

  /* Somebody else's service, or a response: nothing to say. */
  const question_t other[] = {{"_http._tcp.local", NULL, MDNS_TYPE_PTR, false}};
  len = build_query(pkt, sizeof(pkt), other, 1, 0, NULL);
  assert_int_equal(mdns_plan_query(&z, pkt, len, addr, &plan), 0);
  len = build_query(pkt, sizeof(pkt), q, 1, MDNS_FLAG_QR, NULL);
  assert_int_equal(mdns_plan_query(&z, pkt, len, addr, &plan), 0);
  len = build_query(pkt, sizeof(pkt), q, 1, 0x2800 /* opcode 5 */, NULL);
  assert_int_equal(mdns_plan_query(&z, pkt, len, addr, &plan), 0);
}

static void test_plan_instance_and_host(void **state) {
  (void)state;
  mdns_zone_t z;
  make_zone(&z);
  uint8_t pkt[512];
  mdns_plan_t plan;

  /* SRV + TXT + A + AAAA in one packet, the later names compressed against
   * the earlier ones, as python-zeroconf sends them. */
  const question_t q[] = {
      {"_howdyscreen._tcp.local", "Howdy Kitchen", MDNS_TYPE_SRV, true},
      {"_howdyscreen._tcp.local", "howdy kitchen", MDNS_TYPE_TXT, false},
      {"local", "Howdy-Kitchen", MDNS_TYPE_A, false},
      {"local", "howdy-kitchen", MDNS_TYPE_AAAA, false},
  };
  mdns_writer_t w;
  size_t len = build_query(pkt, sizeof(pkt), q, 4, 0, &w);
  assert_true(w.name_count > 0);
  assert_int_equal(mdns_plan_query(&z, pkt, len, 0, &plan), 1);
  assert_int_equal(plan.answers,
                   MDNS_REC_SRV | MDNS_REC_TXT | MDNS_REC_A | MDNS_REC_NSEC_HOST);
  assert_int_equal(plan.additionals, 0); /* all already answered */
  assert_true(plan.unicast_requested);

  const question_t any[] = {{"_howdyscreen._tcp.local", "Howdy Kitchen", MDNS_TYPE_ANY, false}};
  len = build_query(pkt, sizeof(pkt), any, 1, 0, NULL);
  assert_int_equal(mdns_plan_query(&z, pkt, len, 0, &plan), 1);
  assert_int_equal(plan.answers, MDNS_REC_SRV | MDNS_REC_TXT);
  assert_int_equal(plan.additionals, MDNS_REC_A | MDNS_REC_NSEC_HOST);

  const question_t aaaa_inst[] = {{"_howdyscreen._tcp.local", "Howdy Kitchen", MDNS_TYPE_AAAA, false}};
  len = build_query(pkt, sizeof(pkt), aaaa_inst, 1, 0, NULL);
  assert_int_equal(mdns_plan_query(&z, pkt, len, 0, &plan), 1);
  assert_int_equal(plan.answers, MDNS_REC_NSEC_INSTANCE);
}

/* Appends a known answer "service PTR instance" with the given TTL. */
static size_t add_known_ptr(uint8_t *pkt, size_t cap, size_t len, const mdns_zone_t *z,
                            uint32_t ttl, size_t *rdlength_at) {
  mdns_writer_t w;
  mdns_writer_init(&w, pkt, cap);
  w.len = len;
  size_t rl = mdns_write_rr_begin(&w, &z->service, MDNS_TYPE_PTR, MDNS_CLASS_IN, ttl);
  mdns_write_name(&w, &z->instance);
  mdns_write_rr_end(&w, rl);
  assert_false(w.overflow);
  set_count(pkt, 3, 1);
  if (rdlength_at) *rdlength_at = rl;
  return w.len;
}

static void test_plan_known_answer_suppression(void **state) {
  (void)state;
  mdns_zone_t z;
  make_zone(&z);
  uint8_t pkt[512];
  mdns_plan_t plan;
  const question_t q[] = {{"_howdyscreen._tcp.local", NULL, MDNS_TYPE_PTR, false}};

  size_t len = build_query(pkt, sizeof(pkt), q, 1, 0, NULL);
  len = add_known_ptr(pkt, sizeof(pkt), len, &z, MDNS_TTL_OTHER, NULL);
  assert_int_equal(mdns_plan_query(&z, pkt, len, 0, &plan), 0);
  assert_int_equal(plan.answers, 0);

  /* Less than half the TTL left: the querier's copy needs refreshing. */
  len = build_query(pkt, sizeof(pkt), q, 1, 0, NULL);
  len = add_known_ptr(pkt, sizeof(pkt), len, &z, MDNS_TTL_OTHER / 2 - 1, NULL);
  assert_int_equal(mdns_plan_query(&z, pkt, len, 0, &plan), 1);
  assert_int_equal(plan.answers, MDNS_REC_PTR);

  /* A known answer with an rdlength beyond the packet is malformed. */
  len = build_query(pkt, sizeof(pkt), q, 1, 0, NULL);
  size_t rdlength_at = 0;
  len = add_known_ptr(pkt, sizeof(pkt), len, &z, MDNS_TTL_OTHER, &rdlength_at);
  pkt[rdlength_at] = 0x01; /* rdlength 0x1FF: far past the end */
  pkt[rdlength_at + 1] = 0xFF;
  assert_int_equal(mdns_plan_query(&z, pkt, len, 0, &plan), -1);
}

static void test_plan_truncated_and_garbage(void **state) {
  (void)state;
  mdns_zone_t z;
  make_zone(&z);
  uint8_t pkt[512];
  mdns_plan_t plan;
  const question_t q[] = {
      {"_howdyscreen._tcp.local", NULL, MDNS_TYPE_PTR, false},
      {"_howdyscreen._tcp.local", "Howdy Kitchen", MDNS_TYPE_SRV, false},
  };
  size_t len = build_query(pkt, sizeof(pkt), q, 2, 0, NULL);
  len = add_known_ptr(pkt, sizeof(pkt), len, &z, 10, NULL);
  assert_int_equal(mdns_plan_query(&z, pkt, len, 0, &plan), 1);
  /* Every strict prefix is malformed (the counts promise more). */
  for (size_t cut = 0; cut < len; cut++) {
    assert_int_equal(mdns_plan_query(&z, pkt, cut, 0, &plan), -1);
  }
  /* Counts far beyond the content. */
  set_count(pkt, 2, 0xFFFF);
  assert_int_equal(mdns_plan_query(&z, pkt, len, 0, &plan), -1);

  /* Pseudo-random bytes behind a query header must never crash (ASan/UBSan
   * builds check the bounds). */
  uint32_t x = 12345;
  for (int round = 0; round < 20000; round++) {
    size_t n = 12 + (size_t)(round % 200);
    for (size_t i = 0; i < n; i++) {
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      pkt[i] = (uint8_t)x;
    }
    pkt[2] = 0; /* a query, standard opcode */
    pkt[3] = 0;
    pkt[4] = 0;
    pkt[5] = (uint8_t)(1 + round % 4);
    pkt[6] = 0;
    pkt[7] = (uint8_t)(round % 3);
    (void)mdns_plan_query(&z, pkt, n, 0, &plan);
  }
}

/* ---- responses ------------------------------------------------------------------------------ */

static void test_build_response(void **state) {
  (void)state;
  mdns_zone_t z;
  make_zone(&z);
  uint8_t buf[MDNS_TX_MAX];
  mdns_response_opts_t o;
  memset(&o, 0, sizeof(o));
  o.answers = MDNS_REC_PTR;
  o.additionals = MDNS_REC_SRV | MDNS_REC_TXT | MDNS_REC_A | MDNS_REC_NSEC_HOST | MDNS_REC_PTR;
  const uint8_t ip[4] = {127, 0, 0, 1};
  memcpy(&o.addr, ip, 4);
  int n = mdns_build_response(&z, &o, buf, sizeof(buf));
  assert_true(n > 12);
  assert_int_equal(get16(&buf[0]), 0);
  assert_int_equal(get16(&buf[2]), MDNS_FLAG_QR | MDNS_FLAG_AA);
  assert_int_equal(get16(&buf[4]), 0);
  assert_int_equal(get16(&buf[6]), 1);
  assert_int_equal(get16(&buf[10]), 4); /* the PTR is not repeated */

  rr_t rr[8];
  assert_int_equal(parse_records(buf, (size_t)n, rr, 8), 5);
  /* PTR: shared, no cache-flush, long TTL, points at the instance. */
  assert_true(mdns_name_equal(&rr[0].name, &z.service));
  assert_int_equal(rr[0].type, MDNS_TYPE_PTR);
  assert_int_equal(rr[0].rrclass, MDNS_CLASS_IN);
  assert_int_equal(rr[0].ttl, MDNS_TTL_OTHER);
  mdns_name_t target;
  size_t pos = rr[0].rdata;
  assert_int_equal(mdns_read_name(buf, (size_t)n, &pos, &target), 0);
  assert_true(mdns_name_equal(&target, &z.instance));
  /* SRV: unique, host TTL, port and target. */
  assert_int_equal(rr[1].type, MDNS_TYPE_SRV);
  assert_int_equal(rr[1].rrclass, MDNS_CLASS_IN | MDNS_CLASS_TOP_BIT);
  assert_int_equal(rr[1].ttl, MDNS_TTL_HOST);
  assert_int_equal(get16(&buf[rr[1].rdata + 4]), 6053);
  pos = rr[1].rdata + 6;
  assert_int_equal(mdns_read_name(buf, (size_t)n, &pos, &target), 0);
  assert_true(mdns_name_equal(&target, &z.host));
  /* TXT bytes as encoded. */
  assert_int_equal(rr[2].type, MDNS_TYPE_TXT);
  assert_int_equal(rr[2].rdlen, z.txt_len);
  assert_memory_equal(&buf[rr[2].rdata], z.txt, z.txt_len);
  /* A with the interface address. */
  assert_int_equal(rr[3].type, MDNS_TYPE_A);
  assert_int_equal(rr[3].rdlen, 4);
  assert_memory_equal(&buf[rr[3].rdata], ip, 4);
  /* NSEC for the host: next name is itself, bitmap has only A. */
  assert_int_equal(rr[4].type, MDNS_TYPE_NSEC);
  pos = rr[4].rdata;
  assert_int_equal(mdns_read_name(buf, (size_t)n, &pos, &target), 0);
  assert_true(mdns_name_equal(&target, &z.host));
  assert_int_equal(buf[pos], 0);
  assert_int_equal(buf[pos + 1], 1);
  assert_int_equal(buf[pos + 2], 0x40);

  /* Compression kept it small: the instance name is written once in full. */
  assert_true((size_t)n < 12 + 5 * 10 + z.service.len + 2 * z.instance.len + z.txt_len + 40);

  /* Goodbye: every TTL zero. */
  o.goodbye = true;
  o.answers = MDNS_REC_ALL_POSITIVE;
  o.additionals = 0;
  n = mdns_build_response(&z, &o, buf, sizeof(buf));
  assert_int_equal(parse_records(buf, (size_t)n, rr, 8), 5);
  for (int i = 0; i < 5; i++) assert_int_equal(rr[i].ttl, 0);

  /* Too small a buffer is an error, not a truncated packet. */
  assert_int_equal(mdns_build_response(&z, &o, buf, 40), -1);
  /* Nothing to answer is an error too. */
  o.answers = 0;
  assert_int_equal(mdns_build_response(&z, &o, buf, sizeof(buf)), -1);
}

static void test_build_legacy_response(void **state) {
  (void)state;
  mdns_zone_t z;
  make_zone(&z);
  uint8_t query[256];
  const question_t q[] = {
      {"_howdyscreen._tcp.local", NULL, MDNS_TYPE_PTR, false},
      {"_howdyscreen._tcp.local", "Howdy Kitchen", MDNS_TYPE_TXT, false},
  };
  size_t qlen = build_query(query, sizeof(query), q, 2, 0, NULL);
  mdns_plan_t plan;
  assert_int_equal(mdns_plan_query(&z, query, qlen, 0, &plan), 1);

  mdns_response_opts_t o;
  memset(&o, 0, sizeof(o));
  o.answers = plan.answers;
  o.additionals = plan.additionals;
  o.legacy = true;
  o.id = plan.id;
  o.questions = &query[12];
  o.questions_len = plan.question_end - 12;
  o.qdcount = plan.qdcount;
  uint8_t buf[MDNS_TX_MAX];
  int n = mdns_build_response(&z, &o, buf, sizeof(buf));
  assert_true(n > 0);
  assert_int_equal(get16(&buf[0]), 0x1234);
  assert_int_equal(get16(&buf[4]), 2);
  assert_memory_equal(&buf[12], &query[12], qlen - 12);
  rr_t rr[8];
  size_t count = parse_records(buf, (size_t)n, rr, 8);
  assert_int_equal(count, 5); /* PTR, TXT; SRV, A, NSEC */
  for (size_t i = 0; i < count; i++) {
    assert_true(rr[i].ttl <= MDNS_TTL_LEGACY_MAX);
    assert_int_equal(rr[i].rrclass, MDNS_CLASS_IN); /* no cache-flush bit */
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_name_encoding),
      cmocka_unit_test(test_read_name_plain_and_compressed),
      cmocka_unit_test(test_read_name_rejects_loops),
      cmocka_unit_test(test_read_name_rejects_truncated_and_bad),
      cmocka_unit_test(test_writer_compresses),
      cmocka_unit_test(test_zone_and_txt),
      cmocka_unit_test(test_plan_service_ptr),
      cmocka_unit_test(test_plan_instance_and_host),
      cmocka_unit_test(test_plan_known_answer_suppression),
      cmocka_unit_test(test_plan_truncated_and_garbage),
      cmocka_unit_test(test_build_response),
      cmocka_unit_test(test_build_legacy_response),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
