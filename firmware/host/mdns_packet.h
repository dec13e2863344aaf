/*
 * mDNS wire format for the simulator's responder (RFC 1035 / 6762 / 6763).
 *
 * This header is internal to firmware/host: it exists so the packet pieces
 * (names, compression, the query planner, the response builder) can be unit
 * tested without sockets. Nothing here allocates; every buffer is supplied by
 * the caller and every read of a peer's packet is bounds-checked.
 *
 * Names are carried in uncompressed wire form (length-prefixed labels ending in
 * a zero byte) rather than as dotted text, because DNS-SD instance names may
 * legally contain dots and spaces; comparing label by label is the only
 * unambiguous way.
 */
#ifndef HOWDY_HOST_MDNS_PACKET_H
#define HOWDY_HOST_MDNS_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MDNS_PORT 5353u
#define MDNS_GROUP_V4 "224.0.0.251"

/* Largest name on the wire, RFC 1035 3.1. */
#define MDNS_NAME_WIRE_MAX 255u
#define MDNS_LABEL_MAX 63u
/* How many compression pointers one name may follow. The backward-only rule
 * below already makes loops impossible; this just caps the work per name. */
#define MDNS_MAX_POINTER_HOPS 32u
/* Names the writer remembers for compressing later names in one packet. */
#define MDNS_COMPRESS_SLOTS 48u
/* Encoded TXT rdata we are willing to carry (fits one Ethernet frame with the
 * other records of a response). */
#define MDNS_TXT_MAX 600u
/* Responses we build never exceed this: IPv4 UDP payload on a 1500-byte MTU. */
#define MDNS_TX_MAX 1472u
/* Receive buffer: mDNS allows up to 9000-byte packets (RFC 6762 17). */
#define MDNS_RX_MAX 9000u

/* TTLs recommended by RFC 6762 10: 120 s for records carrying a host name,
 * 75 minutes for the rest. */
#define MDNS_TTL_HOST 120u
#define MDNS_TTL_OTHER 4500u
/* Legacy unicast answers are capped at 10 s (RFC 6762 6.7). */
#define MDNS_TTL_LEGACY_MAX 10u

enum {
  MDNS_TYPE_A = 1,
  MDNS_TYPE_PTR = 12,
  MDNS_TYPE_TXT = 16,
  MDNS_TYPE_AAAA = 28,
  MDNS_TYPE_SRV = 33,
  MDNS_TYPE_NSEC = 47,
  MDNS_TYPE_ANY = 255,
};
#define MDNS_CLASS_IN 1u
/* Top bit of the class: cache-flush in records, unicast-response in questions. */
#define MDNS_CLASS_TOP_BIT 0x8000u

#define MDNS_FLAG_QR 0x8000u
#define MDNS_FLAG_AA 0x0400u
#define MDNS_FLAG_TC 0x0200u
#define MDNS_OPCODE_MASK 0x7800u

typedef struct {
  size_t len; /* bytes used in wire[], including the final zero byte */
  uint8_t wire[MDNS_NAME_WIRE_MAX];
} mdns_name_t;

/* ---- names ---------------------------------------------------------------- */

/* Empty (root) name. */
void mdns_name_clear(mdns_name_t *name);
/* Appends one label given as raw bytes (any byte allowed, 1..63 long).
 * 0 on success, -1 if it does not fit or is empty/too long. */
int mdns_name_append_label(mdns_name_t *name, const char *label, size_t label_len);
/* Appends the dot-separated labels of text such as "_howdyscreen._tcp.local"
 * (a trailing dot is allowed). For names whose labels contain no dots. */
int mdns_name_append_dotted(mdns_name_t *name, const char *dotted);
/* Case-insensitive (ASCII) equality, as DNS requires. */
bool mdns_name_equal(const mdns_name_t *a, const mdns_name_t *b);
/* Dotted text for logs; labels are not escaped. Always NUL-terminates. */
void mdns_name_to_text(const mdns_name_t *name, char *out, size_t cap);

/* Reads a possibly compressed name starting at *pos of a packet of pkt_len
 * bytes, and advances *pos past it (past the first pointer, if any).
 * Pointers must go strictly backwards, below every position already visited
 * for this name, so a loop cannot be followed; a hop limit caps the work.
 * 0 on success, -1 on anything malformed (truncation, bad label type,
 * forward/looping pointer, name longer than 255 bytes). */
int mdns_read_name(const uint8_t *pkt, size_t pkt_len, size_t *pos, mdns_name_t *out);

/* ---- packet writer ----------------------------------------------------------- */

typedef struct {
  uint8_t *buf;
  size_t cap;
  size_t len;
  bool overflow; /* sticky: set once anything did not fit */
  uint16_t name_offsets[MDNS_COMPRESS_SLOTS];
  size_t name_count;
} mdns_writer_t;

void mdns_writer_init(mdns_writer_t *w, uint8_t *buf, size_t cap);
void mdns_write_u8(mdns_writer_t *w, uint8_t v);
void mdns_write_u16(mdns_writer_t *w, uint16_t v);
void mdns_write_u32(mdns_writer_t *w, uint32_t v);
void mdns_write_bytes(mdns_writer_t *w, const void *data, size_t n);
/* Writes a name, pointing at the longest suffix already written in this packet
 * (RFC 1035 4.1.4), and remembers the new suffixes for later names. */
void mdns_write_name(mdns_writer_t *w, const mdns_name_t *name);
/* Starts a resource record; returns the offset of its RDLENGTH field, which
 * mdns_write_rr_end() fills in once the RDATA is written. */
size_t mdns_write_rr_begin(mdns_writer_t *w, const mdns_name_t *name, uint16_t type,
                           uint16_t rrclass, uint32_t ttl);
void mdns_write_rr_end(mdns_writer_t *w, size_t rdlength_offset);

/* ---- our records ("zone") ------------------------------------------------------ */

/* One bit per record the responder owns. */
enum {
  MDNS_REC_META_PTR = 1u << 0,  /* _services._dns-sd._udp.local PTR service   */
  MDNS_REC_PTR = 1u << 1,       /* service PTR instance                       */
  MDNS_REC_SRV = 1u << 2,       /* instance SRV 0 0 port host                 */
  MDNS_REC_TXT = 1u << 3,       /* instance TXT                               */
  MDNS_REC_A = 1u << 4,         /* host A address                             */
  MDNS_REC_NSEC_INSTANCE = 1u << 5, /* instance has only SRV and TXT         */
  MDNS_REC_NSEC_HOST = 1u << 6,     /* host has only A (no AAAA)             */
};
#define MDNS_REC_COUNT 7u
#define MDNS_REC_ALL_POSITIVE \
  (MDNS_REC_META_PTR | MDNS_REC_PTR | MDNS_REC_SRV | MDNS_REC_TXT | MDNS_REC_A)

typedef struct {
  mdns_name_t meta;     /* _services._dns-sd._udp.local */
  mdns_name_t service;  /* e.g. _howdyscreen._tcp.local */
  mdns_name_t instance; /* <instance>.<service> */
  mdns_name_t host;     /* <host>.local */
  uint16_t port;
  size_t txt_len;
  uint8_t txt[MDNS_TXT_MAX]; /* encoded TXT rdata */
} mdns_zone_t;

typedef struct {
  const char *key;
  const char *value; /* NULL: boolean attribute "key" without '=' */
} mdns_txt_kv_t;

/* Fills a zone. instance: any UTF-8 up to 63 bytes; service_type: "_x._tcp";
 * host_label: one label (already sanitized). 0 ok, -1 invalid or too long. */
int mdns_zone_init(mdns_zone_t *zone, const char *instance, const char *service_type,
                   const char *host_label, uint16_t port, const mdns_txt_kv_t *txt,
                   size_t txt_count);

/* Turns an instance name into a host label: letters, digits and '-' kept,
 * everything else becomes '-', at most 63 bytes, never empty. */
void mdns_host_label_from_instance(const char *instance, char *out, size_t cap);

/* TTL we give a record (RFC 6762 10). */
uint32_t mdns_record_ttl(uint32_t rec);

/* ---- incoming queries ------------------------------------------------------------ */

typedef struct {
  uint16_t id;
  uint32_t answers;     /* MDNS_REC_* to put in the answer section */
  uint32_t additionals; /* MDNS_REC_* for the additional section (never in answers) */
  bool unicast_requested; /* some question we answer had the QU bit */
  size_t question_end;    /* offset just past the question section */
  uint16_t qdcount;
} mdns_plan_t;

/* Reads a packet and decides what we answer: matches each question against the
 * zone, then drops answers the querier listed as known with at least half our
 * TTL left (RFC 6762 7.1). addr is the IPv4 address (network order) we would
 * put in our A record, needed to recognise a known A answer.
 * Returns 1 when there is something to answer, 0 when not (a response, another
 * opcode, nothing of ours asked), -1 when the packet is malformed. */
int mdns_plan_query(const mdns_zone_t *zone, const uint8_t *pkt, size_t len, uint32_t addr,
                    mdns_plan_t *plan);

/* ---- outgoing responses ------------------------------------------------------------ */

typedef struct {
  uint32_t answers;
  uint32_t additionals;
  uint32_t addr;      /* A record address, network byte order */
  uint16_t id;        /* 0 except legacy unicast replies */
  bool goodbye;       /* TTL 0 on every record (RFC 6762 10.1) */
  bool legacy;        /* legacy unicast: TTL <= 10 s, no cache-flush bit */
  /* Question section to echo (legacy unicast). Copied verbatim at offset 12,
   * where it stood in the query, so compression pointers inside it stay valid. */
  const uint8_t *questions;
  size_t questions_len;
  uint16_t qdcount;
} mdns_response_opts_t;

/* Builds a response into buf. Returns its length, or -1 if it does not fit. */
int mdns_build_response(const mdns_zone_t *zone, const mdns_response_opts_t *opts, uint8_t *buf,
                        size_t cap);

#endif /* HOWDY_HOST_MDNS_PACKET_H */
