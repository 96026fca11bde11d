/* harness_aredis.h: one async connection (duro_aredis) on a loop the test
 * owns, opened connected and closed with no handle left, for the tests of
 * the async transport itself (test_transport_flush.c,
 * test_transport_payloads.c, test_aredis_cluster.c). */
#ifndef DURO_HARNESS_AREDIS_H
#define DURO_HARNESS_AREDIS_H

#include <stddef.h>
#include <uv.h>

#include "duro/aredis.h"

/* duro_test_aredis_open initialises loop and opens a connection named name
 * to url on it, connected within 10 s (asserted). Close it with
 * duro_test_aredis_close. */
duro_aredis *duro_test_aredis_open(uv_loop_t *loop, const char *url,
                                   const char *name);

/* duro_test_aredis_close closes r, runs loop until its handles are gone (5 s
 * at most) and asserts that uv_loop_close finds none left open. */
void duro_test_aredis_close(uv_loop_t *loop, duro_aredis *r);

/* duro_test_aredis_send queues argv[0..argc) on r (lens NULL: C strings),
 * its reply to cb(arg); the command leaves when the transport decides. */
void duro_test_aredis_send(duro_aredis *r, duro_aredis_cb cb, void *arg,
                           int argc, const char **argv, const size_t *lens);

#endif
