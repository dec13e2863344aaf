/*
 * mDNS wire format: names, compression, query planning and response building.
 * See mdns_packet.h for the contract. Everything a peer sends is treated as
 * hostile: each read checks the remaining length first, and a malformed packet
 * makes the planner return -1 without touching anything outside the packet.
 */
#include "mdns_packet.h"

#include <string.h>

/* ---- small helpers --------------------------------------------------------------- */

static uint8_t ascii_lower(uint8_t c) { return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c; }

static uint16_t rd16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }

static uint32_t rd32(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* ---- names -------------------------------------------------------------------------- */

void mdns_name_clear(mdns_name_t *name) {
  name->wire[0] = 0;
  name->len = 1;
}

int mdns_name_append_label(mdns_name_t *name, const char *label, size_t label_len) {
  if (label_len == 0 || label_len > MDNS_LABEL_MAX) return -1;
  if (name->len == 0) mdns_name_clear(name);
  /* The new label replaces the terminating zero and brings its own. */
  if (name->len + label_len + 1 > MDNS_NAME_WIRE_MAX) return -1;
  size_t at = name->len - 1;
  name->wire[at] = (uint8_t)label_len;
  memcpy(&name->wire[at + 1], label, label_len);
  name->wire[at + 1 + label_len] = 0;
  name->len += label_len + 1;
  return 0;
}

int mdns_name_append_dotted(mdns_name_t *name, const char *dotted) {
  const char *p = dotted;
  while (*p != '\0') {
    const char *dot = strchr(p, '.');
    size_t n = dot ? (size_t)(dot - p) : strlen(p);
    if (mdns_name_append_label(name, p, n) != 0) return -1;
    if (!dot) break;
    p = dot + 1;
  }
  return 0;
}

bool mdns_name_equal(const mdns_name_t *a, const mdns_name_t *b) {
  if (a->len != b->len) return false;
  /* Length bytes are at most 63, so lowering them is harmless and the label
   * structure is still compared exactly. */
  for (size_t i = 0; i < a->len; i++) {
    if (ascii_lower(a->wire[i]) != ascii_lower(b->wire[i])) return false;
  }
  return true;
}

void mdns_name_to_text(const mdns_name_t *name, char *out, size_t cap) {
  size_t o = 0;
  size_t i = 0;
  if (cap == 0) return;
  while (i < name->len && name->wire[i] != 0) {
    size_t n = name->wire[i++];
    for (size_t k = 0; k < n && i < name->len; k++, i++) {
      if (o + 1 < cap) out[o++] = (char)name->wire[i];
    }
    if (o + 1 < cap) out[o++] = '.';
  }
  out[o] = '\0';
}

int mdns_read_name(const uint8_t *pkt, size_t pkt_len, size_t *pos, mdns_name_t *out) {
  size_t p = *pos;
  size_t end_after_first_pointer = 0;
  bool jumped = false;
  /* Every pointer must land below this mark, which only ever moves down: the
   * sequence of jump targets is strictly decreasing, so it cannot cycle. */
  size_t lowest_visited = p;
  unsigned hops = 0;

  out->len = 0;
  for (;;) {
    if (p >= pkt_len) return -1;
    uint8_t b = pkt[p];
    if ((b & 0xC0) == 0xC0) {
      if (p + 1 >= pkt_len) return -1;
      size_t target = ((size_t)(b & 0x3F) << 8) | pkt[p + 1];
      if (target >= lowest_visited) return -1;
      if (++hops > MDNS_MAX_POINTER_HOPS) return -1;
      if (!jumped) {
        end_after_first_pointer = p + 2;
        jumped = true;
      }
      lowest_visited = target;
      p = target;
      continue;
    }
    if ((b & 0xC0) != 0) return -1; /* 0x40/0x80 label types are obsolete or unused */
    if (b == 0) {
      if (out->len + 1 > MDNS_NAME_WIRE_MAX) return -1;
      out->wire[out->len++] = 0;
      p += 1;
      break;
    }
    size_t n = b;
    if (p + 1 + n > pkt_len) return -1;
    if (out->len + 1 + n + 1 > MDNS_NAME_WIRE_MAX) return -1; /* keep room for the zero */
    memcpy(&out->wire[out->len], &pkt[p], 1 + n);
    out->len += 1 + n;
    p += 1 + n;
  }
  *pos = jumped ? end_after_first_pointer : p;
  return 0;
}

/* ---- writer -------------------------------------------------------------------------- */

void mdns_writer_init(mdns_writer_t *w, uint8_t *buf, size_t cap) {
  w->buf = buf;
  w->cap = cap;
  w->len = 0;
  w->overflow = false;
  w->name_count = 0;
}

void mdns_write_bytes(mdns_writer_t *w, const void *data, size_t n) {
  if (w->overflow || n > w->cap - w->len) {
    w->overflow = true;
    return;
  }
  memcpy(&w->buf[w->len], data, n);
  w->len += n;
}

void mdns_write_u8(mdns_writer_t *w, uint8_t v) { mdns_write_bytes(w, &v, 1); }

void mdns_write_u16(mdns_writer_t *w, uint16_t v) {
  uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
  mdns_write_bytes(w, b, 2);
}

void mdns_write_u32(mdns_writer_t *w, uint32_t v) {
  uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
  mdns_write_bytes(w, b, 4);
}

/* Does the name already in the packet at `off` equal the suffix of `name`
 * that starts at byte `from`? Decoding through mdns_read_name also follows the
 * pointers earlier names were written with. */
static bool suffix_matches_at(const mdns_writer_t *w, uint16_t off, const mdns_name_t *name,
                              size_t from) {
  mdns_name_t there;
  size_t pos = off;
  if (mdns_read_name(w->buf, w->len, &pos, &there) != 0) return false;
  if (there.len != name->len - from) return false;
  for (size_t i = 0; i < there.len; i++) {
    if (ascii_lower(there.wire[i]) != ascii_lower(name->wire[from + i])) return false;
  }
  return true;
}

void mdns_write_name(mdns_writer_t *w, const mdns_name_t *name) {
  size_t from = 0;
  /* Walk the labels; at each one, look for the rest of the name already in the
   * packet. The first hit is the longest reusable suffix. */
  while (from < name->len && name->wire[from] != 0) {
    for (size_t s = 0; s < w->name_count; s++) {
      if (suffix_matches_at(w, w->name_offsets[s], name, from)) {
        mdns_write_u16(w, (uint16_t)(0xC000u | w->name_offsets[s]));
        return;
      }
    }
    /* Not found: this label goes out literally, and the suffix starting here
     * becomes a target for later names (pointers reach only 14 bits). */
    if (!w->overflow && w->len < 0x4000 && w->name_count < MDNS_COMPRESS_SLOTS) {
      w->name_offsets[w->name_count++] = (uint16_t)w->len;
    }
    size_t n = name->wire[from];
    mdns_write_bytes(w, &name->wire[from], 1 + n);
    from += 1 + n;
  }
  mdns_write_u8(w, 0);
}

size_t mdns_write_rr_begin(mdns_writer_t *w, const mdns_name_t *name, uint16_t type,
                           uint16_t rrclass, uint32_t ttl) {
  mdns_write_name(w, name);
  mdns_write_u16(w, type);
  mdns_write_u16(w, rrclass);
  mdns_write_u32(w, ttl);
  size_t at = w->len;
  mdns_write_u16(w, 0); /* RDLENGTH, patched by mdns_write_rr_end */
  return at;
}

void mdns_write_rr_end(mdns_writer_t *w, size_t rdlength_offset) {
  if (w->overflow) return;
  size_t rdlen = w->len - rdlength_offset - 2;
  w->buf[rdlength_offset] = (uint8_t)(rdlen >> 8);
  w->buf[rdlength_offset + 1] = (uint8_t)rdlen;
}

/* ---- zone ------------------------------------------------------------------------------- */

void mdns_host_label_from_instance(const char *instance, char *out, size_t cap) {
  size_t o = 0;
  if (cap == 0) return;
  for (const char *p = instance; *p != '\0' && o + 1 < cap && o < MDNS_LABEL_MAX; p++) {
    char c = *p;
    bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '-';
    out[o++] = keep ? c : '-';
  }
  if (o == 0 && cap >= 2) out[o++] = 'h'; /* a host label may never be empty */
  out[o] = '\0';
}

int mdns_zone_init(mdns_zone_t *zone, const char *instance, const char *service_type,
                   const char *host_label, uint16_t port, const mdns_txt_kv_t *txt,
                   size_t txt_count) {
  memset(zone, 0, sizeof(*zone));
  if (!instance || !service_type || !host_label) return -1;

  mdns_name_clear(&zone->meta);
  if (mdns_name_append_dotted(&zone->meta, "_services._dns-sd._udp.local") != 0) return -1;

  mdns_name_clear(&zone->service);
  if (mdns_name_append_dotted(&zone->service, service_type) != 0) return -1;
  if (mdns_name_append_label(&zone->service, "local", 5) != 0) return -1;

  /* The instance is one label whatever it contains (RFC 6763 4.3). */
  mdns_name_clear(&zone->instance);
  if (mdns_name_append_label(&zone->instance, instance, strlen(instance)) != 0) return -1;
  if (mdns_name_append_dotted(&zone->instance, service_type) != 0) return -1;
  if (mdns_name_append_label(&zone->instance, "local", 5) != 0) return -1;

  mdns_name_clear(&zone->host);
  if (mdns_name_append_label(&zone->host, host_label, strlen(host_label)) != 0) return -1;
  if (mdns_name_append_label(&zone->host, "local", 5) != 0) return -1;

  zone->port = port;

  /* TXT rdata: one length-prefixed "key=value" string per entry. */
  size_t t = 0;
  for (size_t i = 0; i < txt_count; i++) {
    if (!txt[i].key || txt[i].key[0] == '\0' || strchr(txt[i].key, '=')) return -1;
    size_t klen = strlen(txt[i].key);
    size_t vlen = txt[i].value ? strlen(txt[i].value) : 0;
    size_t item = klen + (txt[i].value ? 1 + vlen : 0);
    if (item > 255 || t + 1 + item > sizeof(zone->txt)) return -1;
    zone->txt[t++] = (uint8_t)item;
    memcpy(&zone->txt[t], txt[i].key, klen);
    t += klen;
    if (txt[i].value) {
      zone->txt[t++] = '=';
      memcpy(&zone->txt[t], txt[i].value, vlen);
      t += vlen;
    }
  }
  if (t == 0) zone->txt[t++] = 0; /* an empty TXT is one empty string (RFC 6763 6.1) */
  zone->txt_len = t;
  return 0;
}

uint32_t mdns_record_ttl(uint32_t rec) {
  switch (rec) {
    case MDNS_REC_SRV:
    case MDNS_REC_A:
    case MDNS_REC_NSEC_HOST:
      return MDNS_TTL_HOST;
    default:
      return MDNS_TTL_OTHER;
  }
}

/* ---- queries ------------------------------------------------------------------------------ */

/* What the question (name, type) asks of us: answers and additionals. */
static void match_question(const mdns_zone_t *z, const mdns_name_t *qname, uint16_t qtype,
                           uint32_t *answers, uint32_t *additionals) {
  bool any = qtype == MDNS_TYPE_ANY;
  if (mdns_name_equal(qname, &z->meta)) {
    if (any || qtype == MDNS_TYPE_PTR) *answers |= MDNS_REC_META_PTR;
  } else if (mdns_name_equal(qname, &z->service)) {
    if (any || qtype == MDNS_TYPE_PTR) {
      *answers |= MDNS_REC_PTR;
      /* RFC 6763 12.1: spare the querier a second round trip. */
      *additionals |= MDNS_REC_SRV | MDNS_REC_TXT | MDNS_REC_A | MDNS_REC_NSEC_HOST;
    }
  } else if (mdns_name_equal(qname, &z->instance)) {
    if (any || qtype == MDNS_TYPE_SRV) {
      *answers |= MDNS_REC_SRV;
      *additionals |= MDNS_REC_A | MDNS_REC_NSEC_HOST;
    }
    if (any || qtype == MDNS_TYPE_TXT) *answers |= MDNS_REC_TXT;
    if (!any && qtype != MDNS_TYPE_SRV && qtype != MDNS_TYPE_TXT) {
      /* A type the instance does not have: say so (RFC 6762 6.1). */
      *answers |= MDNS_REC_NSEC_INSTANCE;
    }
  } else if (mdns_name_equal(qname, &z->host)) {
    if (any || qtype == MDNS_TYPE_A) {
      *answers |= MDNS_REC_A;
      *additionals |= MDNS_REC_NSEC_HOST;
    } else {
      /* Typically AAAA: we have no IPv6 address, answer with the NSEC so the
       * querier stops asking instead of waiting for a timeout. */
      *answers |= MDNS_REC_NSEC_HOST;
    }
  }
}

/* Which of our records does this known answer repeat? 0 if none. The rdata
 * lies at [rd, rd + rdlen) of the packet. */
static uint32_t match_known_answer(const mdns_zone_t *z, const uint8_t *pkt, size_t len,
                                   const mdns_name_t *name, uint16_t type, size_t rd, size_t rdlen,
                                   uint32_t addr) {
  mdns_name_t target;
  size_t p = rd;
  switch (type) {
    case MDNS_TYPE_PTR:
      if (mdns_read_name(pkt, len, &p, &target) != 0 || p > rd + rdlen) return 0;
      if (mdns_name_equal(name, &z->meta) && mdns_name_equal(&target, &z->service))
        return MDNS_REC_META_PTR;
      if (mdns_name_equal(name, &z->service) && mdns_name_equal(&target, &z->instance))
        return MDNS_REC_PTR;
      return 0;
    case MDNS_TYPE_SRV:
      if (!mdns_name_equal(name, &z->instance) || rdlen < 7) return 0;
      if (rd16(&pkt[rd + 4]) != z->port) return 0;
      p = rd + 6;
      if (mdns_read_name(pkt, len, &p, &target) != 0 || p > rd + rdlen) return 0;
      return mdns_name_equal(&target, &z->host) ? MDNS_REC_SRV : 0;
    case MDNS_TYPE_TXT:
      if (!mdns_name_equal(name, &z->instance) || rdlen != z->txt_len) return 0;
      return memcmp(&pkt[rd], z->txt, rdlen) == 0 ? MDNS_REC_TXT : 0;
    case MDNS_TYPE_A:
      if (!mdns_name_equal(name, &z->host) || rdlen != 4) return 0;
      return memcmp(&pkt[rd], &addr, 4) == 0 ? MDNS_REC_A : 0;
    default:
      return 0;
  }
}

int mdns_plan_query(const mdns_zone_t *zone, const uint8_t *pkt, size_t len, uint32_t addr,
                    mdns_plan_t *plan) {
  memset(plan, 0, sizeof(*plan));
  if (len < 12) return -1;
  uint16_t flags = rd16(&pkt[2]);
  uint16_t qd = rd16(&pkt[4]);
  uint16_t an = rd16(&pkt[6]);
  plan->id = rd16(&pkt[0]);
  plan->qdcount = qd;
  /* Responses and non-standard opcodes are not ours to answer (RFC 6762 18.3). */
  if ((flags & MDNS_FLAG_QR) || (flags & MDNS_OPCODE_MASK)) return 0;

  size_t pos = 12;
  uint32_t unicast_answers = 0;
  for (uint16_t i = 0; i < qd; i++) {
    mdns_name_t qname;
    if (mdns_read_name(pkt, len, &pos, &qname) != 0) return -1;
    if (pos + 4 > len) return -1;
    uint16_t qtype = rd16(&pkt[pos]);
    uint16_t qclass = rd16(&pkt[pos + 2]);
    pos += 4;
    uint16_t cls = qclass & (uint16_t)~MDNS_CLASS_TOP_BIT;
    if (cls != MDNS_CLASS_IN && cls != MDNS_TYPE_ANY) continue;
    uint32_t a = 0;
    match_question(zone, &qname, qtype, &a, &plan->additionals);
    plan->answers |= a;
    if (qclass & MDNS_CLASS_TOP_BIT) unicast_answers |= a;
  }
  plan->question_end = pos;

  /* Known-answer suppression: the querier lists what it already holds. */
  for (uint16_t i = 0; i < an; i++) {
    mdns_name_t name;
    if (mdns_read_name(pkt, len, &pos, &name) != 0) return -1;
    if (pos + 10 > len) return -1;
    uint16_t type = rd16(&pkt[pos]);
    uint32_t ttl = rd32(&pkt[pos + 4]);
    uint16_t rdlen = rd16(&pkt[pos + 8]);
    pos += 10;
    if (pos + rdlen > len) return -1;
    uint32_t rec = match_known_answer(zone, pkt, len, &name, type, pos, rdlen, addr);
    if (rec != 0 && ttl >= mdns_record_ttl(rec) / 2) plan->answers &= ~rec;
    pos += rdlen;
  }
  /* Authority/additional sections are not needed to answer (probes would use
   * the authority section; we do not defend names, see mdns_responder.c). */

  plan->additionals &= ~plan->answers;
  plan->unicast_requested = (unicast_answers & plan->answers) != 0;
  if (plan->answers == 0) {
    plan->additionals = 0;
    return 0;
  }
  return 1;
}

/* ---- responses ------------------------------------------------------------------------------ */

static void write_nsec_bitmap(mdns_writer_t *w, const uint16_t *types, size_t n) {
  /* Window block 0 only: every type we own is below 256. */
  uint8_t bitmap[32] = {0};
  size_t used = 0;
  for (size_t i = 0; i < n; i++) {
    bitmap[types[i] / 8] |= (uint8_t)(0x80u >> (types[i] % 8));
    if ((size_t)types[i] / 8 + 1 > used) used = (size_t)types[i] / 8 + 1;
  }
  mdns_write_u8(w, 0);
  mdns_write_u8(w, (uint8_t)used);
  mdns_write_bytes(w, bitmap, used);
}

static void write_record(mdns_writer_t *w, const mdns_zone_t *z, const mdns_response_opts_t *o,
                         uint32_t rec) {
  uint32_t ttl = o->goodbye ? 0 : mdns_record_ttl(rec);
  if (o->legacy && ttl > MDNS_TTL_LEGACY_MAX) ttl = MDNS_TTL_LEGACY_MAX;
  /* Cache-flush marks records only we own (RFC 6762 10.2); shared PTRs never
   * carry it, and legacy resolvers would not understand it. */
  bool unique = rec != MDNS_REC_META_PTR && rec != MDNS_REC_PTR;
  uint16_t cls = (uint16_t)(MDNS_CLASS_IN | ((unique && !o->legacy) ? MDNS_CLASS_TOP_BIT : 0));
  size_t rl;
  switch (rec) {
    case MDNS_REC_META_PTR:
      rl = mdns_write_rr_begin(w, &z->meta, MDNS_TYPE_PTR, cls, ttl);
      mdns_write_name(w, &z->service);
      break;
    case MDNS_REC_PTR:
      rl = mdns_write_rr_begin(w, &z->service, MDNS_TYPE_PTR, cls, ttl);
      mdns_write_name(w, &z->instance);
      break;
    case MDNS_REC_SRV:
      rl = mdns_write_rr_begin(w, &z->instance, MDNS_TYPE_SRV, cls, ttl);
      mdns_write_u16(w, 0); /* priority */
      mdns_write_u16(w, 0); /* weight */
      mdns_write_u16(w, z->port);
      mdns_write_name(w, &z->host);
      break;
    case MDNS_REC_TXT:
      rl = mdns_write_rr_begin(w, &z->instance, MDNS_TYPE_TXT, cls, ttl);
      mdns_write_bytes(w, z->txt, z->txt_len);
      break;
    case MDNS_REC_A:
      rl = mdns_write_rr_begin(w, &z->host, MDNS_TYPE_A, cls, ttl);
      mdns_write_bytes(w, &o->addr, 4);
      break;
    case MDNS_REC_NSEC_INSTANCE: {
      static const uint16_t types[] = {MDNS_TYPE_TXT, MDNS_TYPE_SRV};
      rl = mdns_write_rr_begin(w, &z->instance, MDNS_TYPE_NSEC, cls, ttl);
      mdns_write_name(w, &z->instance); /* next name: itself (RFC 6762 6.1) */
      write_nsec_bitmap(w, types, 2);
      break;
    }
    case MDNS_REC_NSEC_HOST: {
      static const uint16_t types[] = {MDNS_TYPE_A};
      rl = mdns_write_rr_begin(w, &z->host, MDNS_TYPE_NSEC, cls, ttl);
      mdns_write_name(w, &z->host);
      write_nsec_bitmap(w, types, 1);
      break;
    }
    default:
      return;
  }
  mdns_write_rr_end(w, rl);
}

static uint16_t write_records(mdns_writer_t *w, const mdns_zone_t *z,
                              const mdns_response_opts_t *o, uint32_t set) {
  uint16_t count = 0;
  for (uint32_t i = 0; i < MDNS_REC_COUNT; i++) {
    uint32_t rec = 1u << i;
    if (set & rec) {
      write_record(w, z, o, rec);
      count++;
    }
  }
  return count;
}

int mdns_build_response(const mdns_zone_t *zone, const mdns_response_opts_t *opts, uint8_t *buf,
                        size_t cap) {
  mdns_writer_t w;
  mdns_writer_init(&w, buf, cap);
  uint8_t header[12] = {0};
  mdns_write_bytes(&w, header, sizeof(header));
  uint16_t qd = 0;
  if (opts->legacy && opts->questions_len > 0) {
    mdns_write_bytes(&w, opts->questions, opts->questions_len);
    qd = opts->qdcount;
    /* Let our records point at the echoed question names, as a resolver
     * would expect; they sit at the offsets they had in the query. */
    size_t pos = 12;
    for (uint16_t i = 0; i < qd && !w.overflow; i++) {
      mdns_name_t skip;
      size_t start = pos;
      if (mdns_read_name(buf, w.len, &pos, &skip) != 0 || pos + 4 > w.len) break;
      pos += 4;
      if (start < 0x4000 && w.name_count < MDNS_COMPRESS_SLOTS) {
        w.name_offsets[w.name_count++] = (uint16_t)start;
      }
    }
  }
  uint16_t an = write_records(&w, zone, opts, opts->answers);
  uint16_t ar = write_records(&w, zone, opts, opts->additionals & ~opts->answers);
  if (w.overflow || an == 0) return -1;

  uint16_t flags = MDNS_FLAG_QR | MDNS_FLAG_AA;
  const uint16_t fields[6] = {opts->id, flags, qd, an, 0, ar};
  for (size_t i = 0; i < 6; i++) {
    buf[2 * i] = (uint8_t)(fields[i] >> 8);
    buf[2 * i + 1] = (uint8_t)fields[i];
  }
  return (int)w.len;
}
