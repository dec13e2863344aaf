/*
 * mDNS / DNS-SD responder for howdyscreen-sim (Linux only).
 *
 * What it does, and why:
 * - One UDP socket bound to 0.0.0.0:5353 with SO_REUSEADDR and SO_REUSEPORT,
 *   because Home Assistant's python-zeroconf (or avahi) usually owns 5353 on
 *   the same host and both must receive every multicast query.
 * - It joins 224.0.0.251 on loopback and on every other IPv4 interface that is
 *   up: a Home Assistant configured with only its default interface queries
 *   there, and tests query on loopback. IP_PKTINFO tells us which interface a
 *   query came in on, so the A record carries that interface's address
 *   (127.0.0.1 on loopback) and the reply leaves through the same interface.
 * - IP_MULTICAST_LOOP stays on: the listeners are on this very machine.
 * - Announces three times (0 s, 1 s, 3 s: RFC 6762 8.3 asks for at least two,
 *   one second apart, intervals then doubling) and says goodbye (TTL 0) on
 *   stop. It does not probe for or defend its names: the simulator is a
 *   development tool, and its name is chosen by whoever starts it.
 * - Answers the service PTR, the _services._dns-sd._udp meta PTR, the
 *   instance SRV/TXT and the host A record, with the usual additionals and
 *   NSEC records for what does not exist (no AAAA), honouring known-answer
 *   suppression, the QU bit, legacy unicast queries (source port != 5353),
 *   the 20-120 ms delay for shared answers and the one-second multicast rate
 *   limit per record and interface.
 * All buffers live in the responder struct, allocated once in start().
 */
#define _GNU_SOURCE /* getifaddrs, struct ip_mreqn, IP_PKTINFO under -std=c11 */

#include "mdns_responder.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "mdns_packet.h"

static const char *const TAG = "mdns";

#define MDNS_MAX_IFACES 16
#define MDNS_ANNOUNCE_COUNT 3
/* Datagrams handled per wake-up before timers get a look in. */
#define MDNS_RX_BURST 32
#define MDNS_SHARED_RECORDS (MDNS_REC_META_PTR | MDNS_REC_PTR)

typedef struct {
  int ifindex;
  bool loopback;
  uint32_t addr;    /* network byte order */
  uint32_t netmask; /* network byte order */
  char name[IF_NAMESIZE];
  /* When each record was last multicast on this interface, -1 if never:
   * drives the one-second rate limit and the QU decision (RFC 6762 5.4, 6). */
  int64_t last_multicast_ms[MDNS_REC_COUNT];
  /* A multicast response being aggregated (RFC 6762 6: shared answers wait
   * 20-120 ms so several responders' answers do not collide). */
  uint32_t pending_answers;
  uint32_t pending_additionals;
  int64_t pending_due_ms;
} mdns_iface_t;

struct howdy_mdns_responder {
  int sock;
  int wake_pipe[2]; /* stop() writes one byte here to end the thread's poll */
  pthread_t thread;
  mdns_zone_t zone;
  mdns_iface_t ifaces[MDNS_MAX_IFACES];
  size_t iface_count;
  unsigned announcements_sent;
  int64_t next_announce_ms;
  uint32_t rng; /* xorshift state for the response delay; no shared rand() */
  uint8_t rx[MDNS_RX_MAX];
  uint8_t tx[MDNS_TX_MAX];
};

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint32_t next_random(howdy_mdns_responder_t *r) {
  uint32_t x = r->rng;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  r->rng = x;
  return x;
}

static void mark_multicast(mdns_iface_t *ifc, uint32_t set, int64_t now) {
  for (uint32_t i = 0; i < MDNS_REC_COUNT; i++) {
    if (set & (1u << i)) ifc->last_multicast_ms[i] = now;
  }
}

/* Records of `set` multicast on this interface less than `window_ms` ago. */
static uint32_t multicast_within(const mdns_iface_t *ifc, uint32_t set, int64_t now,
                                 int64_t window_ms) {
  uint32_t recent = 0;
  for (uint32_t i = 0; i < MDNS_REC_COUNT; i++) {
    uint32_t rec = 1u << i;
    int64_t t = ifc->last_multicast_ms[i];
    if ((set & rec) && t >= 0 && now - t < window_ms) recent |= rec;
  }
  return recent;
}

/* ---- sending ---------------------------------------------------------------------------- */

static void send_multicast(howdy_mdns_responder_t *r, const mdns_iface_t *ifc, size_t len) {
  /* Choose the outgoing interface per packet: one socket serves them all. */
  struct ip_mreqn mreq;
  memset(&mreq, 0, sizeof(mreq));
  mreq.imr_ifindex = ifc->ifindex;
  mreq.imr_address.s_addr = ifc->addr;
  if (setsockopt(r->sock, IPPROTO_IP, IP_MULTICAST_IF, &mreq, sizeof(mreq)) != 0) return;
  struct sockaddr_in to;
  memset(&to, 0, sizeof(to));
  to.sin_family = AF_INET;
  to.sin_port = htons(MDNS_PORT);
  inet_pton(AF_INET, MDNS_GROUP_V4, &to.sin_addr);
  /* A lost multicast is what mDNS retries are for: nothing to do on error. */
  (void)sendto(r->sock, r->tx, len, 0, (const struct sockaddr *)&to, sizeof(to));
}

static void send_unicast(howdy_mdns_responder_t *r, const struct sockaddr_in *to, size_t len) {
  (void)sendto(r->sock, r->tx, len, 0, (const struct sockaddr *)to, sizeof(*to));
}

/* Unsolicited response with every record (announcement) or TTL 0 (goodbye). */
static void send_all_records(howdy_mdns_responder_t *r, mdns_iface_t *ifc, bool goodbye,
                             int64_t now) {
  mdns_response_opts_t o;
  memset(&o, 0, sizeof(o));
  o.answers = MDNS_REC_ALL_POSITIVE;
  o.additionals = goodbye ? 0 : MDNS_REC_NSEC_HOST;
  o.addr = ifc->addr;
  o.goodbye = goodbye;
  int n = mdns_build_response(&r->zone, &o, r->tx, sizeof(r->tx));
  if (n <= 0) return;
  send_multicast(r, ifc, (size_t)n);
  if (!goodbye) mark_multicast(ifc, o.answers | o.additionals, now);
}

static void flush_pending(howdy_mdns_responder_t *r, mdns_iface_t *ifc, int64_t now) {
  uint32_t answers = ifc->pending_answers;
  uint32_t additionals = ifc->pending_additionals;
  ifc->pending_answers = 0;
  ifc->pending_additionals = 0;
  /* Never multicast a record twice within a second on one interface
   * (RFC 6762 6); whoever asked heard the previous copy. */
  answers &= ~multicast_within(ifc, answers, now, 1000);
  HOWDY_LOGD(TAG, "  -> multicast on %s: answers 0x%02x", ifc->name, (unsigned)answers);
  if (answers == 0) return;
  mdns_response_opts_t o;
  memset(&o, 0, sizeof(o));
  o.answers = answers;
  o.additionals = additionals & ~answers;
  o.addr = ifc->addr;
  int n = mdns_build_response(&r->zone, &o, r->tx, sizeof(r->tx));
  if (n <= 0) return;
  send_multicast(r, ifc, (size_t)n);
  mark_multicast(ifc, o.answers | o.additionals, now);
}

/* ---- receiving ---------------------------------------------------------------------------- */

static mdns_iface_t *find_iface(howdy_mdns_responder_t *r, int ifindex) {
  for (size_t i = 0; i < r->iface_count; i++) {
    if (r->ifaces[i].ifindex == ifindex) return &r->ifaces[i];
  }
  return NULL;
}

static void handle_packet(howdy_mdns_responder_t *r, size_t len, const struct sockaddr_in *src,
                          int ifindex, struct in_addr dst, int64_t now) {
  mdns_iface_t *ifc = find_iface(r, ifindex);
  if (!ifc) return; /* an interface we did not join: not our link */

  struct in_addr group;
  inet_pton(AF_INET, MDNS_GROUP_V4, &group);
  bool to_group = dst.s_addr == group.s_addr;
  /* A query sent to us directly must come from our own link (RFC 6762 11):
   * the responder should never answer across a router. */
  if (!to_group && !ifc->loopback &&
      ((src->sin_addr.s_addr ^ ifc->addr) & ifc->netmask) != 0) {
    return;
  }

  mdns_plan_t plan;
  if (mdns_plan_query(&r->zone, r->rx, len, ifc->addr, &plan) != 1) return;
  if (howdy_log_enabled(HOWDY_LOG_DEBUG)) {
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &src->sin_addr, ip, sizeof(ip));
    HOWDY_LOGD(TAG, "query on %s from %s:%u%s%s: answers 0x%02x additionals 0x%02x",
               ifc->name, ip, ntohs(src->sin_port), to_group ? "" : " (unicast)",
               plan.unicast_requested ? " QU" : "", (unsigned)plan.answers,
               (unsigned)plan.additionals);
  }

  mdns_response_opts_t o;
  memset(&o, 0, sizeof(o));
  o.answers = plan.answers;
  o.additionals = plan.additionals;
  o.addr = ifc->addr;

  if (ntohs(src->sin_port) != MDNS_PORT) {
    /* Legacy unicast resolver (RFC 6762 6.7): a plain DNS answer to its port,
     * echoing its id and questions. */
    o.legacy = true;
    o.id = plan.id;
    o.questions = &r->rx[12];
    o.questions_len = plan.question_end - 12;
    o.qdcount = plan.qdcount;
    int n = mdns_build_response(&r->zone, &o, r->tx, sizeof(r->tx));
    if (n > 0) send_unicast(r, src, (size_t)n);
    return;
  }

  if (!to_group) {
    /* Sent straight to our port 5353: answer the sender directly (RFC 6762 5.5). */
    int n = mdns_build_response(&r->zone, &o, r->tx, sizeof(r->tx));
    if (n > 0) send_unicast(r, src, (size_t)n);
    HOWDY_LOGD(TAG, "  -> unicast reply (%d bytes)", n);
    return;
  }
  if (plan.unicast_requested) {
    /* QU: records the link saw recently (within a quarter of their TTL) go
     * back unicast; the others are multicast so every cache on the link is
     * refreshed (RFC 6762 5.4). */
    uint32_t fresh = 0;
    for (uint32_t i = 0; i < MDNS_REC_COUNT; i++) {
      uint32_t rec = 1u << i;
      if (plan.answers & rec) {
        fresh |= multicast_within(ifc, rec, now, (int64_t)mdns_record_ttl(rec) * 1000 / 4);
      }
    }
    if (fresh) {
      o.answers = fresh;
      o.additionals = plan.additionals & ~fresh;
      int n = mdns_build_response(&r->zone, &o, r->tx, sizeof(r->tx));
      if (n > 0) send_unicast(r, src, (size_t)n);
      HOWDY_LOGD(TAG, "  -> unicast reply 0x%02x (%d bytes)", (unsigned)fresh, n);
    }
    plan.answers &= ~fresh;
    if (plan.answers == 0) return;
  }

  int64_t due = now;
  if (plan.answers & MDNS_SHARED_RECORDS) due += 20 + (int64_t)(next_random(r) % 101);
  if (ifc->pending_answers == 0 || due < ifc->pending_due_ms) ifc->pending_due_ms = due;
  ifc->pending_answers |= plan.answers;
  ifc->pending_additionals |= plan.additionals;
}

static void receive_burst(howdy_mdns_responder_t *r) {
  for (int i = 0; i < MDNS_RX_BURST; i++) {
    struct sockaddr_in src;
    union {
      struct cmsghdr align;
      uint8_t buf[CMSG_SPACE(sizeof(struct in_pktinfo))];
    } control;
    struct iovec iov = {.iov_base = r->rx, .iov_len = sizeof(r->rx)};
    struct msghdr msg;
    memset(&msg, 0, sizeof(msg));
    msg.msg_name = &src;
    msg.msg_namelen = sizeof(src);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof(control.buf);
    ssize_t n = recvmsg(r->sock, &msg, MSG_DONTWAIT);
    if (n < 0) return; /* EAGAIN or a transient error: back to poll */
    if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || msg.msg_namelen < sizeof(src) ||
        src.sin_family != AF_INET) {
      continue;
    }
    int ifindex = -1;
    struct in_addr dst = {0};
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
        struct in_pktinfo info;
        memcpy(&info, CMSG_DATA(c), sizeof(info));
        ifindex = info.ipi_ifindex;
        dst = info.ipi_addr;
      }
    }
    if (ifindex < 0) continue;
    handle_packet(r, (size_t)n, &src, ifindex, dst, now_ms());
  }
}

/* ---- thread ---------------------------------------------------------------------------------- */

static void *responder_thread(void *arg) {
  howdy_mdns_responder_t *r = arg;
  r->next_announce_ms = now_ms();
  for (;;) {
    int64_t now = now_ms();
    int64_t wake_at = now + 60000;
    if (r->announcements_sent < MDNS_ANNOUNCE_COUNT && r->next_announce_ms < wake_at) {
      wake_at = r->next_announce_ms;
    }
    for (size_t i = 0; i < r->iface_count; i++) {
      if (r->ifaces[i].pending_answers && r->ifaces[i].pending_due_ms < wake_at) {
        wake_at = r->ifaces[i].pending_due_ms;
      }
    }
    int timeout = wake_at > now ? (int)(wake_at - now) : 0;

    struct pollfd fds[2] = {{.fd = r->sock, .events = POLLIN}, {.fd = r->wake_pipe[0], .events = POLLIN}};
    int pr = poll(fds, 2, timeout);
    if (pr < 0 && errno != EINTR) break;
    if (pr > 0 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) break;
    if (pr > 0 && (fds[0].revents & POLLIN)) receive_burst(r);

    now = now_ms();
    if (r->announcements_sent < MDNS_ANNOUNCE_COUNT && now >= r->next_announce_ms) {
      for (size_t i = 0; i < r->iface_count; i++) send_all_records(r, &r->ifaces[i], false, now);
      r->announcements_sent++;
      /* 1 s, then 2 s: intervals double (RFC 6762 8.3). */
      r->next_announce_ms = now + 1000 * (int64_t)(1u << (r->announcements_sent - 1));
    }
    for (size_t i = 0; i < r->iface_count; i++) {
      mdns_iface_t *ifc = &r->ifaces[i];
      if (ifc->pending_answers && now >= ifc->pending_due_ms) flush_pending(r, ifc, now);
    }
  }
  int64_t now = now_ms();
  for (size_t i = 0; i < r->iface_count; i++) send_all_records(r, &r->ifaces[i], true, now);
  return NULL;
}

/* ---- set-up ----------------------------------------------------------------------------------- */

static void add_iface(howdy_mdns_responder_t *r, const char *name, unsigned flags,
                      const struct sockaddr_in *addr, const struct sockaddr_in *mask) {
  int ifindex = (int)if_nametoindex(name);
  if (ifindex <= 0 || find_iface(r, ifindex) || r->iface_count >= MDNS_MAX_IFACES) return;

  struct ip_mreqn mreq;
  memset(&mreq, 0, sizeof(mreq));
  inet_pton(AF_INET, MDNS_GROUP_V4, &mreq.imr_multiaddr);
  mreq.imr_address = addr->sin_addr;
  mreq.imr_ifindex = ifindex;
  if (setsockopt(r->sock, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq, sizeof(mreq)) != 0) {
    HOWDY_LOGW(TAG, "cannot join %s on %s: %s", MDNS_GROUP_V4, name, strerror(errno));
    return;
  }
  mdns_iface_t *ifc = &r->ifaces[r->iface_count++];
  memset(ifc, 0, sizeof(*ifc));
  ifc->ifindex = ifindex;
  ifc->loopback = (flags & IFF_LOOPBACK) != 0;
  ifc->addr = addr->sin_addr.s_addr;
  ifc->netmask = mask ? mask->sin_addr.s_addr : 0xFFFFFFFFu;
  snprintf(ifc->name, sizeof(ifc->name), "%s", name);
  for (uint32_t i = 0; i < MDNS_REC_COUNT; i++) ifc->last_multicast_ms[i] = -1;
}

static void join_interfaces(howdy_mdns_responder_t *r, const char *only_address) {
  struct in_addr only = {0};
  bool restricted = only_address && inet_pton(AF_INET, only_address, &only) == 1;
  struct ifaddrs *list = NULL;
  if (getifaddrs(&list) == 0) {
    /* Loopback first, so it is never crowded out by the interface limit. */
    for (int pass = 0; pass < 2; pass++) {
      for (struct ifaddrs *i = list; i; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
        bool lo = (i->ifa_flags & IFF_LOOPBACK) != 0;
        if (!(i->ifa_flags & IFF_UP) || lo != (pass == 0)) continue;
        /* Loopback carries no IFF_MULTICAST flag on Linux yet loops multicast
         * fine; other interfaces must say they can. */
        if (!lo && !(i->ifa_flags & IFF_MULTICAST)) continue;
        if (restricted &&
            ((const struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr != only.s_addr) {
          continue;
        }
        add_iface(r, i->ifa_name, i->ifa_flags, (const struct sockaddr_in *)i->ifa_addr,
                  (const struct sockaddr_in *)i->ifa_netmask);
      }
    }
    freeifaddrs(list);
  }
  if (r->iface_count == 0 && !restricted) {
    /* getifaddrs failed: loopback alone still serves a Home Assistant on this
     * machine. */
    struct sockaddr_in lo;
    memset(&lo, 0, sizeof(lo));
    lo.sin_family = AF_INET;
    lo.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    add_iface(r, "lo", IFF_LOOPBACK, &lo, NULL);
  }
}

static int open_socket(void) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -1;
  int one = 1;
  int ttl = 255; /* RFC 6762 11: receivers may check for 255 */
  unsigned char mttl = 255;
  unsigned char loop = 1;
  struct sockaddr_in any;
  memset(&any, 0, sizeof(any));
  any.sin_family = AF_INET;
  any.sin_port = htons(MDNS_PORT);
  any.sin_addr.s_addr = htonl(INADDR_ANY);
  if (setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
      setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
      setsockopt(s, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)) != 0 ||
      setsockopt(s, IPPROTO_IP, IP_TTL, &ttl, sizeof(ttl)) != 0 ||
      setsockopt(s, IPPROTO_IP, IP_MULTICAST_TTL, &mttl, sizeof(mttl)) != 0 ||
      setsockopt(s, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof(loop)) != 0 ||
      bind(s, (const struct sockaddr *)&any, sizeof(any)) != 0) {
    int e = errno;
    close(s);
    errno = e;
    return -1;
  }
  return s;
}

int howdy_mdns_responder_start(howdy_mdns_responder_t **out, const howdy_mdns_service_t *svc) {
  if (!out) return -EINVAL;
  *out = NULL;
  if (!svc || !svc->instance_name || !svc->service_type || (svc->txt_count && !svc->txt)) {
    return -EINVAL;
  }

  howdy_mdns_responder_t *r = calloc(1, sizeof(*r));
  if (!r) return -ENOMEM;
  r->sock = -1;
  r->wake_pipe[0] = r->wake_pipe[1] = -1;

  /* The TXT entries are handed to the packet layer in its own shape; a fixed
   * cap keeps this on the stack (a TXT this long would not fit anyway). */
  mdns_txt_kv_t kv[64];
  if (svc->txt_count > sizeof(kv) / sizeof(kv[0])) {
    free(r);
    return -EINVAL;
  }
  for (size_t i = 0; i < svc->txt_count; i++) {
    kv[i].key = svc->txt[i].key;
    kv[i].value = svc->txt[i].value;
  }
  char host[MDNS_LABEL_MAX + 1];
  mdns_host_label_from_instance(svc->instance_name, host, sizeof(host));
  if (mdns_zone_init(&r->zone, svc->instance_name, svc->service_type, host, svc->port, kv,
                     svc->txt_count) != 0) {
    free(r);
    return -EINVAL;
  }

  r->rng = (uint32_t)now_ms() ^ ((uint32_t)getpid() << 16) ^ 0x9E3779B9u;
  if (r->rng == 0) r->rng = 1;

  int err;
  r->sock = open_socket();
  if (r->sock < 0) {
    err = -errno;
    HOWDY_LOGE(TAG, "cannot open UDP port %u: %s", MDNS_PORT, strerror(errno));
    goto fail;
  }
  join_interfaces(r, svc->interface_address);
  if (r->iface_count == 0) {
    err = -ENODEV;
    goto fail;
  }
  if (pipe2(r->wake_pipe, O_CLOEXEC) != 0) {
    err = -errno;
    goto fail;
  }
  int pe = pthread_create(&r->thread, NULL, responder_thread, r);
  if (pe != 0) {
    err = -pe;
    goto fail;
  }
  char text[MDNS_NAME_WIRE_MAX + 8];
  mdns_name_to_text(&r->zone.instance, text, sizeof(text));
  HOWDY_LOGI(TAG, "announcing %s port %u on %zu interface(s)", text, svc->port, r->iface_count);
  for (size_t i = 0; i < r->iface_count; i++) {
    char ip[INET_ADDRSTRLEN];
    struct in_addr a = {.s_addr = r->ifaces[i].addr};
    inet_ntop(AF_INET, &a, ip, sizeof(ip));
    HOWDY_LOGD(TAG, "  %s (%s)", r->ifaces[i].name, ip);
  }
  *out = r;
  return 0;

fail:
  if (r->sock >= 0) close(r->sock);
  if (r->wake_pipe[0] >= 0) close(r->wake_pipe[0]);
  if (r->wake_pipe[1] >= 0) close(r->wake_pipe[1]);
  free(r);
  return err < 0 ? err : -EIO;
}

void howdy_mdns_responder_stop(howdy_mdns_responder_t *r) {
  if (!r) return;
  const char byte = 1;
  ssize_t w;
  do {
    w = write(r->wake_pipe[1], &byte, 1);
  } while (w < 0 && errno == EINTR);
  /* The thread sends the goodbyes itself, so no two threads share the socket. */
  pthread_join(r->thread, NULL);
  close(r->sock);
  close(r->wake_pipe[0]);
  close(r->wake_pipe[1]);
  free(r);
}
