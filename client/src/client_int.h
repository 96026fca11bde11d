/* client_int.h: the client's private state and helpers shared by its files. */
#ifndef DURO_CLIENT_INT_H
#define DURO_CLIENT_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <hiredis/hiredis.h>
#include "duro/client.h"
#include "duro/cluster_sync.h"
#include "duro/config.h"
#include "duro/fcall.h"
#include "duro/keys.h"
#include "duro/redis.h"
#include "duro/reply.h"

/* duro_client: one synchronous connection (one server, or a router over
 * a cluster's masters: cluster_sync.h) plus what setup learned. `conn` is
 * NULL or broken after a lost connection to one server; duro__call and
 * duro__pipeline reconnect before the next call. */
struct duro_client {
    duro_cluster_sync *conn;
    duro_redis_url url;
    int partitions; /* learned from duro:meta after each connect */
    int given;      /* $DURO_PARTITIONS, or 0: never create duro:meta */
    const duro_codec *codec; /* NULL: payloads stored as given */
    char errstr[512];
    duro_keyspace ks;       /* the namespace; partitions: see duro__ks */
    int64_t retention_ms;   /* the namespace's, as last read */
    int64_t retention_read; /* when (mono ms; 0: never) */
    /* sub: duro_client_result's subscriber connection, kept between its
     * calls (a long poll waits in 500 ms slices: one connection per wait,
     * not per slice) and unsubscribed between them; NULL until the first
     * wait and after an error. Like the client, used by one thread at a
     * time. Connected to sub_host:sub_port (a cluster: the channel's
     * master); sharded: SSUBSCRIBE there (client_result.c). */
    redisContext *sub;
    char sub_host[256];
    int sub_port;
    bool sub_sharded;
    bool sub_once; /* UNSUBSCRIBE refused (an older ACL): sub per wait */
    /* failover_until: through Sentinel, when a wait that lost its master
     * stops reconnecting (mono ms; 0: connected), kept across the slices
     * of one wait; failover_pause: its next pause (client_result.c) */
    int64_t failover_until;
    int failover_pause;
};

/* duro__ks: the client's keyspace with the partition count it knows now. */
static inline const duro_keyspace *duro__ks(const duro_client *c)
{
    duro_client *m = (duro_client *)c;
    m->ks.partitions = c->partitions;
    return &m->ks;
}

/* duro__registry_get reads namespace name's registry hash into *info.
 * Returns 1 when registered, 0 when not (info holds the defaults), or
 * DURO_E* (client.c). */
int duro__registry_get(duro_client *c, const char *name,
                       duro_namespace_info *info);
/* duro__retention: the namespace's retention in ms (the registry's, read
 * again after DURO__RETENTION_REFRESH_MS), DURO_DEFAULT_RETENTION_MS when
 * it has no entry, or a DURO_E* (< 0) when Redis cannot say
 * (client.c). */
#define DURO__RETENTION_REFRESH_MS 10000
int64_t duro__retention(duro_client *c);
/* duro__namespace_known: 0 when the client's namespace is `default` or
 * registered (reading its retention), else DURO_ENOTFOUND (as Temporal
 * refuses an unknown namespace) or another DURO_E*, with the message. */
int duro__namespace_known(duro_client *c);

/* duro__reason_json returns {"reason": reason} as text (cJSON_free it),
 * or NULL with *rc and the client's message set (too long, no memory). */
char *duro__reason_json(duro_client *c, const char *reason, int *rc);

/* duro__where names url's server for messages, into buf: "redis at
 * host:port", or through Sentinel "redis master NAME (via Sentinel)"
 * (its host:port is only the first sentinel's until resolved). */
const char *duro__where(const duro_redis_url *url, char *buf, size_t size);

/* duro__fail sets the client's message and returns code. */
int duro__fail(duro_client *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* duro__connect opens a connection to url with the client timeout; NULL
 * with "cannot connect to redis at host:port: reason" in err, and the
 * DURO_E* in *code when code is not NULL (DURO_EAUTH: credentials). A
 * redis+cluster:// URL, or a redis:// one naming a cluster node, gives a
 * router over the masters (cluster_sync.h). */
duro_cluster_sync *duro__connect(const duro_redis_url *url, char *err,
                                 size_t errsize, int *code);

/* duro__conn: the client's connection, reconnected when it was lost; NULL
 * with the client's message set (and *rc) when it cannot be. */
duro_cluster_sync *duro__conn(duro_client *c, int *rc);

/* duro__is_cluster: the client talks to a Redis Cluster (as of its last
 * connect). */
bool duro__is_cluster(const duro_client *c);

/* duro__call sends a and returns its reply (caller frees), or NULL with
 * *rc set: DURO_ECONN when the connection failed, DURO_EREDIS for an error
 * reply unless allow_error (then error replies are returned). */
redisReply *duro__call(duro_client *c, const duro_argv *a, bool allow_error,
                       int *rc);

/* duro__pipeline sends n commands in one round trip and stores their
 * replies (error replies included) in replies[0..n). Returns 0 or
 * DURO_ECONN, in which case no replies are left to free. */
int duro__pipeline(duro_client *c, const duro_argv *cmds, int n,
                   redisReply **replies);

/* duro__history_range: LRANGE of run history k->hist (start, stop: list
 * indexes), converting a history in the stream format of library 10 and
 * older first (duro_history_upgrade). The reply, or NULL with *rc set and
 * the client's message (an error reply too). */
redisReply *duro__history_range(duro_client *c, const duro_wf_keys *k,
                                long long start, long long stop, int *rc);
/* duro__check_run: 0 if a run id read from Redis is safe to use in key
 * names (1..DURO_UUID_LEN of [0-9A-Za-z-]), else DURO_EINVAL. */
int duro__check_run(const char *run);

/* duro__current_run validates id, reads the current run from the workflow
 * hash and fills k for it. DURO_ENOTFOUND when the workflow is absent. */
int duro__current_run(duro_client *c, const char *id, duro_wf_keys *k,
                      char run[DURO_UUID_LEN + 1]);

/* duro__wf_head: what a call needs to address a workflow's current run. */
typedef struct {
    duro_wf_keys k; /* keys of the current run */
    char run[DURO_UUID_LEN + 1];
    char queue[DURO_QUEUE_MAX + 1];
    char status[16]; /* RUNNING, COMPLETED, ... */
    /* hlen: the run's history length, read with run (the same HMGET), so
     * a query can tell a worker how much of the history its answer must
     * reflect; -1 when the hash holds none that parses */
    int64_t hlen;
} duro__wf_head;

/* duro__read_head validates id and reads the current run, task queue,
 * status and history length (one HMGET). DURO_ENOTFOUND (h->run and
 * h->status left "") when the workflow is absent, DURO_EPROTO when the
 * hash is damaged (a missing or malformed hlen is not: h->hlen -1). */
int duro__read_head(duro_client *c, const char *id, duro__wf_head *h);

/* duro__query_send adds a query (kind NULL) or an update's validation
 * (kind "update") to the query stream of h's task queue, answered in list
 * replykey (client_query.c). */
int duro__query_send(duro_client *c, const duro__wf_head *h, const char *id,
                     const char *name, const char *kind, const char *input,
                     const char *replykey, int64_t timeout_ms);
/* duro__query_wait: BLPOP replykey for up to timeout_ms; *out is the reply
 * (caller frees), a nil one when nobody answered. */
int duro__query_wait(duro_client *c, const char *replykey, int64_t timeout_ms,
                     redisReply **out);
/* duro__query_take decodes an answer {"ok":true,"result":X} (*result_json,
 * decoded with the codec; caller frees) or {"ok":false,"error":E}
 * (DURO_EINVAL with E as the client's message). */
int duro__query_take(duro_client *c, const char *name, const char *s,
                     size_t len, char **result_json);

/* duro__check_start validates start options and their input (client_start.c).
 */
int duro__check_start(duro_client *c, const duro_start_opts *o);

/* duro__already_fail reports a DURO_ALREADY_STARTED reply (errstr) for
 * workflow id: the run holding the id, its status, the refusing id reuse
 * policy. Returns DURO_EALREADY (client_start.c). */
int duro__already_fail(duro_client *c, const char *errstr, const char *id);

/* duro__terminate_run terminates run `run` of workflow_id (an id the
 * caller checked) with {"reason": reason}, and no other: a run that
 * replaced it since is left running (client_start.c). Returns 0,
 * DURO_ESTALE (another run is the running one: `run` closed),
 * DURO_ENOTRUNNING (the id's current run is closed), DURO_ENOTFOUND (no
 * workflow hash), or DURO_ECONN / DURO_EREDIS, with the message. */
int duro__terminate_run(duro_client *c, const char *workflow_id,
                        const char *run, const char *reason);

/* duro__delete_target: what duro_client_delete reads before it acts (the
 * two halves are apart so a test can put a start between them). */
typedef struct {
    char run[DURO_UUID_LEN + 1]; /* the run to remove */
    bool running; /* it was the id's current run, RUNNING, when read */
} duro__delete_target;

/* duro__delete_read validates workflow_id and run_id (NULL: the current
 * run) and reads which run a delete removes into *t (client_delete.c).
 * 0, DURO_EINVAL, DURO_ENOTFOUND (run_id NULL and no workflow), or
 * DURO_ECONN / DURO_EREDIS / DURO_EPROTO, with the message. */
int duro__delete_read(duro_client *c, const char *workflow_id,
                      const char *run_id, duro__delete_target *t);
/* duro__delete_act terminates t->run when it was running (by its run id:
 * a run started since, by continue-as-new, signal-with-start or a new
 * start, is not touched; one closed since is fine), then purges exactly
 * t->run. duro_client_delete's returns (client_delete.c). */
int duro__delete_act(duro_client *c, const char *workflow_id,
                     const duro__delete_target *t);

/* duro__started_data: WorkflowStarted's data for run, with the input text
 * embedded verbatim. Caller frees with cJSON_free; NULL when out of memory. */
char *duro__started_data(const duro_start_opts *o, const char *run);

/* duro__start_args fills s, for duro_fcall_start and
 * duro_fcall_signal_with_start, from o, the new run's id and its
 * WorkflowStarted data (borrowed). */
void duro__start_args(const duro_start_opts *o, const char *run,
                      const char *started_data, duro_fcall_start_args *s);

/* duro__seal encodes payload text json (NULL = null) with the client's
 * codec into *out (caller frees with free()): 0, or the codec's error with
 * the client's message set. */
int duro__seal(duro_client *c, const char *json, char **out);

/* duro__seal_start copies o into *so with its input encoded; *sealed holds
 * that input (caller frees). 0 or duro__seal's error. */
int duro__seal_start(duro_client *c, const duro_start_opts *o,
                     duro_start_opts *so, char **sealed);

/* duro__unseal decodes obj's member `field` in place with the client's
 * codec; a payload it cannot decode stays as stored (see
 * duro_client_set_codec). */
void duro__unseal(duro_client *c, cJSON *obj, const char *field);

/* ---- JSON helpers ---- */

/* duro__json_value: the JSON in s[0..len), or a string holding s when it
 * is not valid JSON (data in Redis is not trusted), or null when len 0. */
cJSON *duro__json_value(const char *s, size_t len);
/* duro__add_time adds an ISO-8601 string for ms, or null when ms <= 0. */
void duro__add_time(cJSON *o, const char *name, int64_t ms);

/* duro__queue_flow: queue's flow settings and counters (client_ratelimit.c),
 * as duro_client_queue_config's *out. */
int duro__queue_flow(duro_client *c, const char *queue, cJSON **out);
/* duro__describe_family adds to describe's object o what the workflow
 * hash h says of the run's family: "parent" {"workflowId","runId"} (a
 * child) and "pendingChildren" [{"seq","workflowId","runId",
 * "parentClosePolicy","started"}] (client_family.c). */
void duro__describe_family(cJSON *o, const redisReply *h);

#endif
