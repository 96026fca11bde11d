/* chaos_tool.h: what chaos-check's commands (drive, wait, check) share. */
#ifndef DURO_CHAOS_TOOL_H
#define DURO_CHAOS_TOOL_H

#include <stdint.h>
#include <hiredis/hiredis.h>
#include "duro/codec.h"
#include "chaos_route.h"

/* chaos_args: the flags of every command; zero means "not given". */
typedef struct {
    const char *redis_url;
    uint64_t seed;
    int workflows;
    int64_t spread_ms;  /* drive: start the workflows over this long */
    int64_t timeout_ms; /* wait: give up after this long */
    int64_t settle_ms;  /* check: time allowed for queues to drain */
    int kills;          /* check: reported in the summary line */
    int redis_restarts; /* check: reported in the summary line */
    const char *wall;   /* check: reported in the summary line */
    int master_kills;   /* check: reported when >= 0 (a cluster run) */
    int crashes;        /* check: processes that died by themselves */
    /* the built-in codec of $DURO_CODEC_KEY_FILE (NULL: none), as the
     * chaos-workers use it: drive encodes, check decodes */
    const duro_codec *codec;
} chaos_args;

int chaos_drive(const chaos_args *a);
int chaos_wait(const chaos_args *a);
int chaos_check(const chaos_args *a);

/* chaos_connect connects to a->redis_url (one server or a cluster,
 * chaos_route.h), retrying for up to wait_ms; NULL (after a message on
 * stderr) if it never succeeds. */
chaos_route *chaos_connect(const chaos_args *a, int64_t wait_ms);

/* chaos_partitions reads duro:meta's partition count; -1 on error. */
int chaos_partitions(chaos_route *c);

void chaos_sleep_ms(int64_t ms);

#endif
