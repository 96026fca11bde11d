/* keys.h: Redis key names; see docs/internals.md for the layout. */
#ifndef DURO_KEYS_H
#define DURO_KEYS_H

#include <stddef.h>
#include <stdint.h>
#include "duro/export.h"
#include "duro/ids.h"

#define DURO_NS_MAX 64 /* bytes in a namespace name */
#define DURO_PREFIX_MAX (DURO_NS_MAX + 16)
#define DURO_KEY_MAX (DURO_ID_MAX + DURO_UUID_LEN + DURO_PREFIX_MAX + 64)
#define DURO_SHORT_KEY_MAX (DURO_PREFIX_MAX + 48)
#define DURO_DEFAULT_NAMESPACE "default"
#define DURO_DEFAULT_RETENTION_MS (72LL * 3600 * 1000)
/* The namespace registry: a set of names and one hash per namespace
 * (retention_ms, description, created_ms); `default` exists without one. */
#define DURO_NAMESPACES_KEY "duro:namespaces"
#define DURO_NAMESPACE_KEY_PREFIX "duro:namespace:"
#define DURO_GROUP "duro"
/* DURO_ASYNC_CONSUMER: the consumer that holds the activity tasks waiting
 * for an asynchronous completion (worker/src/sdk_async.c); no worker reads
 * or deletes it. */
#define DURO_ASYNC_CONSUMER "duro-async-completion"
/* duro_entry_is_lease: whether an activity attempt's entry is a lease,
 * `L<started ms>-<seq>-<attempt>` (eager dispatch since library 35: the attempt
 * was started by the committing worker and is in no stream), rather than
 * a stream entry id (digits). */
#define duro_entry_is_lease(entry) ((entry) != NULL && (entry)[0] == 'L')
#define DURO_DEFAULT_PARTITIONS 16
#define DURO_META_KEY "duro:meta"
#define DURO_QUEUES_KEY "duro:queues"
#define DURO_DEAD_KEY "duro:dead"
#define DURO_WAKE_CHANNEL "duro:wake"

/* duro_keyspace: where one namespace's keys live. Every key builder takes
 * one in place of a bare partition count. The namespace `default` keeps the
 * key names Duro had before namespaces ("duro:{pN}:..."), so that data
 * written then is default's without migration; namespace X's keys are
 * "duro:ns:X:{pN}:..." (docs/internals.md, "Namespaces"). */
typedef struct {
    char ns[DURO_NS_MAX + 1];
    char prefix[DURO_PREFIX_MAX]; /* "duro:" or "duro:ns:<name>:" */
    int partitions;
} duro_keyspace;

/* DURO_KEYSPACE_DEFAULT(n): the default namespace's keyspace with n
 * partitions, as a pointer to a compound literal (valid in the enclosing
 * block): for code that knows only a partition count. */
#define DURO_KEYSPACE_DEFAULT(n)                                               \
    (&(duro_keyspace){.ns = "default", .prefix = "duro:", .partitions = (n)})

/* duro_namespace_check: 0 if `name` is a valid namespace name (1..64 bytes
 * of [A-Za-z0-9._-]), else DURO_EINVAL with a reason in err. */
DURO_EXPORT int duro_namespace_check(const char *name, char *err,
                                     size_t errsize);
/* duro_keyspace_init fills ks for namespace `ns` (NULL or "": default) with
 * `partitions` (0 while not known yet). Returns 0, or DURO_EINVAL for a bad
 * name (ks is then default's). */
DURO_EXPORT int duro_keyspace_init(duro_keyspace *ks, const char *ns,
                                   int partitions);
/* duro_namespace_default: `explicit` when given (not NULL nor ""), else
 * $DURO_NAMESPACE when set, else "default". */
DURO_EXPORT const char *duro_namespace_default(const char *explicit_ns);

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
    char timers[DURO_SHORT_KEY_MAX];
    char idx_open[DURO_SHORT_KEY_MAX];
    char idx_closed[DURO_SHORT_KEY_MAX];
    char wft[DURO_KEY_MAX];
    char act[DURO_KEY_MAX];
    char prefix[DURO_PREFIX_MAX]; /* the keyspace's, for wft and act */
} duro_wf_keys;

DURO_EXPORT void duro_wf_keys_init(duro_wf_keys *k, const duro_keyspace *ks,
                                   const char *id, const char *run);

/* duro_wf_keys_queues sets k->wft to the stream of workflow task queue
 * wfqueue and k->act to that of activity task queue actqueue, in k's
 * partition; a NULL queue leaves its key as it is. */
DURO_EXPORT void duro_wf_keys_queues(duro_wf_keys *k, const char *wfqueue,
                                     const char *actqueue);

/* Per-partition keys of a keyspace; each writes into buf and returns buf. */
DURO_EXPORT char *duro_key_wft(char *buf, size_t size, const duro_keyspace *ks,
                               int partition, const char *queue);
DURO_EXPORT char *duro_key_act(char *buf, size_t size, const duro_keyspace *ks,
                               int partition, const char *queue);
DURO_EXPORT char *duro_key_qry(char *buf, size_t size, const duro_keyspace *ks,
                               int partition, const char *queue);
DURO_EXPORT char *duro_key_timers(char *buf, size_t size,
                                  const duro_keyspace *ks, int partition);
/* duro_key_idx_open: the partition's index of open (running) workflows. */
DURO_EXPORT char *duro_key_idx_open(char *buf, size_t size,
                                    const duro_keyspace *ks, int partition);
/* duro_key_idx_closed: the partition's index of closed workflows. */
DURO_EXPORT char *duro_key_idx_closed(char *buf, size_t size,
                                      const duro_keyspace *ks, int partition);
/* duro_key_qreply: the list a query's reply is pushed to. */
DURO_EXPORT char *duro_key_qreply(char *buf, size_t size,
                                  const duro_keyspace *ks, int partition,
                                  const char *name);
/* duro_key_wft_sticky: worker `worker`'s own workflow-task stream of queue
 * in partition, "<wft stream>#<worker>" (a queue name has no '#'); the
 * worker must be at most DURO_STICKY_WORKER_MAX bytes. */
#define DURO_STICKY_WORKER_MAX 256
DURO_EXPORT char *duro_key_wft_sticky(char *buf, size_t size,
                                      const duro_keyspace *ks, int partition,
                                      const char *queue, const char *worker);
/* duro_key_vis: run `run`'s visibility row (docs/internals.md,
 * "Visibility"). */
DURO_EXPORT char *duro_key_vis(char *buf, size_t size, const duro_keyspace *ks,
                               int partition, const char *run);
/* duro_key_vx: a visibility index of the partition: "start", "close",
 * "status:<STATUS>", "type:<type>" or "kw:<Name>:<value>". */
DURO_EXPORT char *duro_key_vx(char *buf, size_t size, const duro_keyspace *ks,
                              int partition, const char *index);
/* duro_key_sa: the partition's copy of the search-attribute registry. */
DURO_EXPORT char *duro_key_sa(char *buf, size_t size, const duro_keyspace *ks,
                              int partition);
DURO_EXPORT char *duro_key_closed_channel(char *buf, size_t size,
                                          const duro_keyspace *ks,
                                          int partition);
/* Keys of the keyspace outside any partition: the set of task queues its
 * workers poll ("duro:queues" for default). */
DURO_EXPORT char *duro_key_queues(char *buf, size_t size,
                                  const duro_keyspace *ks);
/* duro_key_namespace: the registry hash of namespace `name`. */
DURO_EXPORT char *duro_key_namespace(char *buf, size_t size, const char *name);

/* duro_sched_keys: every key of schedule `id`, in the partition of the id
 * (as a workflow's): its hash, its last actions (list), its requests
 * (trigger, backfill: list) and the partition's set of schedule ids. */
typedef struct {
    int partition;
    char sched[DURO_KEY_MAX];
    char acts[DURO_KEY_MAX];
    char req[DURO_KEY_MAX];
    char timers[DURO_SHORT_KEY_MAX];
    char index[DURO_SHORT_KEY_MAX];
} duro_sched_keys;

DURO_EXPORT void duro_sched_keys_init(duro_sched_keys *k,
                                      const duro_keyspace *ks, const char *id);
/* duro_key_sched_index: the partition's set of schedule ids. */
DURO_EXPORT char *duro_key_sched_index(char *buf, size_t size,
                                       const duro_keyspace *ks, int partition);

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
