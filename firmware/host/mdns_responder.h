/*
 * A small mDNS / DNS-SD responder for the Linux simulator (RFC 6762, 6763).
 *
 * On the device ESP-IDF's mdns component announces the service; on the host
 * this responder plays that part so python-zeroconf (and so Home Assistant) on
 * the same machine discovers howdyscreen-sim exactly as it would discover a
 * board. It shares UDP 5353 with any other responder on the host.
 *
 * One responder announces one service instance. It runs its own thread; all
 * memory is allocated in start() and freed in stop().
 */
#ifndef HOWDY_HOST_MDNS_RESPONDER_H
#define HOWDY_HOST_MDNS_RESPONDER_H

#include <stddef.h>
#include <stdint.h>

/* The service description is part of the platform seam (howdy/platform.h).
 * Until that header exists, the same definition lives here; both places use
 * the HOWDY_MDNS_SERVICE_DEFINED guard so either may come first. */
#if defined(__has_include)
#if __has_include("howdy/platform.h")
#include "howdy/platform.h"
#endif
#endif

#ifndef HOWDY_MDNS_SERVICE_DEFINED
#define HOWDY_MDNS_SERVICE_DEFINED
typedef struct {
  const char *key;
  const char *value;
} howdy_txt_record_t;

typedef struct {
  const char *instance_name; /* DNS-SD instance label; also gives the host name */
  const char *service_type;  /* e.g. "_howdyscreen._tcp" (".local" is added) */
  uint16_t port;
  const howdy_txt_record_t *txt;
  size_t txt_count;
} howdy_mdns_service_t;
#endif

typedef struct howdy_mdns_responder howdy_mdns_responder_t;

/* Opens the socket, joins 224.0.0.251 on loopback and every other up IPv4
 * interface, starts the thread and the announcements. The service strings are
 * copied, so svc need not outlive the call. 0 on success, <0 on error (invalid
 * service, socket failure, thread failure); *out is NULL on error. */
int howdy_mdns_responder_start(howdy_mdns_responder_t **out, const howdy_mdns_service_t *svc);

/* Sends goodbye packets (TTL 0) on every interface, joins the thread and frees
 * everything. NULL is allowed. */
void howdy_mdns_responder_stop(howdy_mdns_responder_t *r);

#endif /* HOWDY_HOST_MDNS_RESPONDER_H */
