/* deadline.h: how long a client may take to send a request's headers and
 * its body. libmicrohttpd times out only idle connections (no byte for
 * 90s), so a client that sent its headers a byte every few seconds held a
 * connection, and its thread, for as long as it liked, and max_connections
 * such clients kept everyone else out (slowloris).
 *
 * Each connection gets an entry (libmicrohttpd's socket context) with the
 * time by which the part of the request it is reading must be in; a thread
 * looks at them once a second and shuts down the socket of one past its
 * time. libmicrohttpd's thread for the connection then sees the end of the
 * stream and closes it; the entry, and with it the socket number, is
 * dropped before libmicrohttpd closes the socket, so a number reused by a
 * later connection is never shut down. */
#ifndef DURO_SERVER_DEADLINE_H
#define DURO_SERVER_DEADLINE_H

#include <stdint.h>
#include <microhttpd.h>

#include "duro/metrics.h"

typedef struct srv_deadlines srv_deadlines;

/* srv_part: what a connection is waiting for, which sets its deadline. */
typedef enum {
    SRV_PART_HEADERS, /* from its start: header_ms */
    SRV_PART_BODY,    /* from the end of the headers: body_ms */
    SRV_PART_ANSWER,  /* the handler runs (long polls too): none */
    SRV_PART_NEXT,    /* kept alive after an answer: idle_ms + header_ms */
} srv_part;

/* srv_deadlines_start starts the thread that enforces the deadlines (all
 * in milliseconds, above 0), counting the connections it closes in m
 * (which must outlive it). 0, or DURO_ENOMEM (no memory, or no thread). */
int srv_deadlines_start(srv_deadlines **out, int64_t header_ms, int64_t body_ms,
                        int64_t idle_ms, duro_metrics *m);

/* srv_deadlines_notify is the MHD_OPTION_NOTIFY_CONNECTION callback (cls
 * the srv_deadlines): an entry per connection, waiting for its headers. */
void srv_deadlines_notify(void *cls, struct MHD_Connection *c,
                          void **socket_context,
                          enum MHD_ConnectionNotificationCode code);

/* srv_deadlines_enter: connection c now waits for part p. */
void srv_deadlines_enter(srv_deadlines *d, struct MHD_Connection *c,
                         srv_part p);

/* srv_deadlines_stop stops the thread and frees d; call it after
 * MHD_stop_daemon (every connection closed). NULL is ignored. */
void srv_deadlines_stop(srv_deadlines *d);

#endif
