/* Shared between api_server.c (sockets, lifecycle) and messages.c (dispatch). */
#ifndef HOWDY_API_INTERNAL_H
#define HOWDY_API_INTERNAL_H

#include "howdy/api_server.h"

#define HOWDY_API_TAG "api"

/* One decoded-to-be message from the codec. */
void howdy_api_dispatch(howdy_api_conn_t *c, uint16_t type, const uint8_t *payload, size_t len);

/* State of one entity to one client. */
void howdy_api_send_entity_state(howdy_api_conn_t *c, const howdy_entity_t *e);

/* Sends a message without body fields (Ping, Disconnect, ...). */
int howdy_api_send_empty(howdy_api_conn_t *c, uint16_t type);

#endif
