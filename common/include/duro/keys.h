/* keys.h: Redis key names; see docs/internals.md for the layout. */
#ifndef DURO_KEYS_H
#define DURO_KEYS_H

#include <stddef.h>
#include <stdint.h>
#include "duro/export.h"
#include "duro/ids.h"

#define DURO_KEY_MAX (DURO_ID_MAX + DURO_UUID_LEN + 64)
#define DURO_GROUP "duro"
#define DURO_DEFAULT_PARTITIONS 16
#define DURO_META_KEY "duro:meta"
#define DURO_QUEUES_KEY "duro:queues"
#define DURO_DEAD_KEY "duro:dead"
#define DURO_WAKE_CHANNEL "duro:wake"

/* duro_crc16: CRC16/XMODEM as Redis Cluster computes it. */
DURO_EXPORT uint16_t duro_crc16(const char *buf, size_t len);
/* duro_partition_of: the partition of workflow `id` among `partitions`. */
DURO_EXPORT int duro_partition_of(const char *id, int partitions);

/* duro_wf_keys: every key of one workflow run, filled by duro_wf_keys_init:
 * the keys a Function call takes (duro/fcall.h). `hist` is empty when run
 * is NULL; `wft` (the workflow's task stream) and `act` (an activity
 * attempt's stream) are empty until duro_wf_keys_queues names them. */
typedef struct {
    int partition;
    char wf[DURO_KEY_MAX];
    char hist[DURO_KEY_MAX];
    char buf[DURO_KEY_MAX];
    char pa[DURO_KEY_MAX];
    char timers[64];
    char idx_open[64];
    char idx_closed[64];
    char wft[DURO_KEY_MAX];
    char act[DURO_KEY_MAX];
} duro_wf_keys;

DURO_EXPORT void duro_wf_keys_init(duro_wf_keys *k, int partitions,
                                   const char *id, const char *run);

/* duro_wf_keys_queues sets k->wft to the stream of workflow task queue
 * wfqueue and k->act to that of activity task queue actqueue, in k's
 * partition; a NULL queue leaves its key as it is. */
DURO_EXPORT void duro_wf_keys_queues(duro_wf_keys *k, const char *wfqueue,
                                     const char *actqueue);

/* Per-partition keys; each writes into buf and returns buf. */
DURO_EXPORT char *duro_key_wft(char *buf, size_t size, int partition,
                               const char *queue);
DURO_EXPORT char *duro_key_act(char *buf, size_t size, int partition,
                               const char *queue);
DURO_EXPORT char *duro_key_qry(char *buf, size_t size, int partition,
                               const char *queue);
DURO_EXPORT char *duro_key_timers(char *buf, size_t size, int partition);
/* duro_key_idx_open: the partition's index of open (running) workflows. */
DURO_EXPORT char *duro_key_idx_open(char *buf, size_t size, int partition);
DURO_EXPORT char *duro_key_closed_channel(char *buf, size_t size,
                                          int partition);

/* duro_sched_keys: every key of schedule `id`, in the partition of the id
 * (as a workflow's): its hash, its last actions (list), its requests
 * (trigger, backfill: list) and the partition's set of schedule ids. */
typedef struct {
    int partition;
    char sched[DURO_KEY_MAX];
    char acts[DURO_KEY_MAX];
    char req[DURO_KEY_MAX];
    char timers[64];
    char index[64];
} duro_sched_keys;

DURO_EXPORT void duro_sched_keys_init(duro_sched_keys *k, int partitions,
                                      const char *id);
/* duro_key_sched_index: the partition's set of schedule ids. */
DURO_EXPORT char *duro_key_sched_index(char *buf, size_t size, int partition);

/* duro_timer_member: a timer's zset member
 * "<kind>|<run>|<a>|<b>|<wfqueue>|<actqueue>|<id>" (actqueue "-" or NULL
 * when none). */
DURO_EXPORT char *duro_timer_member(char *buf, size_t size, char kind,
                                    const char *run, long long a, long long b,
                                    const char *wfqueue, const char *actqueue,
                                    const char *id);

/* duro_timer_ref: a parsed timer member; pointers point into the caller's copy.
 */
typedef struct {
    char kind;
    char *run;
    long long a, b;
    char *wfqueue;
    char *actqueue; /* "-" when none */
    char *id;
} duro_timer_ref;

/* duro_timer_parse splits `member` in place (it must be writable) at its
 * first six '|'.
 * Returns 0, or DURO_EPROTO for a malformed member. */
DURO_EXPORT int duro_timer_parse(char *member, duro_timer_ref *t);

#endif
