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

/* howdy_mdns_service_t and howdy_txt_record_t are part of the platform seam. */
#include "howdy/platform.h"

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
