/* harness.h: process harness for the Criterion integration tests.
 *
 * Every Criterion test runs in its own process; a test that needs Redis
 * starts a throwaway redis-server on a free port, then the Duro programs it
 * exercises (duro-scheduler, duro-test-worker, bench-worker, duro), all as
 * children of the test process:
 *
 *     static duro_test_harness h;
 *     TestSuite(timers, .init = setup, .fini = duro_test_fini, .timeout = 60);
 *     static void setup(void) { duro_test_redis_start(&h); }
 *
 *     Test(timers, sleep_fires) {
 *         duro_test_spawn(&h, "duro-scheduler", NULL);
 *         duro_test_spawn(&h, "duro-test-worker", NULL);
 *         ...
 *         duro_test_finish(&h);
 *     }
 *
 * Children get SIGKILL when the test process dies (PR_SET_PDEATHSIG), so a
 * test killed by Criterion's timeout leaves nothing running. Their stdout
 * and stderr go to <dir>/<program>-<n>.log; duro_test_fini prints the tail
 * of every log when the test did not reach duro_test_finish. */
#ifndef DURO_TEST_HARNESS_H
#define DURO_TEST_HARNESS_H

#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <cjson/cJSON.h>
#include <hiredis/hiredis.h>

#include "duro/client.h"

#ifndef DURO_BIN_DIR
#error "DURO_BIN_DIR must name the directory of the built programs"
#endif

#define DURO_TEST_MAX_CHILDREN 32
#define DURO_TEST_CLUSTER_MAX 12 /* nodes of a test cluster */

/* duro_test_child: one process the harness started. */
typedef struct {
    pid_t pid;
    char name[64];
    char log[PATH_MAX + 160];
    bool reaped;       /* waitpid collected it */
    int status;        /* its wait status once reaped */
    int killed_with;   /* the signal the test sent it on purpose, or 0 */
    bool exit_awaited; /* duro_test_wait_exit saw it end by itself */
    bool redis;        /* a redis-server: stopped after the Duro programs */
} duro_test_child;

/* duro_test_node: one redis-server of a test cluster. */
typedef struct {
    int port;     /* its client port on 127.0.0.1 */
    int bus_port; /* its cluster bus port (--cluster-port) */
    pid_t pid;
    char id[48];    /* its cluster node id */
    bool master;    /* serves slots (as last read from CLUSTER NODES) */
    int master_idx; /* a replica's master (index), or -1 */
    bool killed;    /* duro_test_cluster_kill took it down */
} duro_test_node;

/* duro_test_cluster: the cluster duro_test_cluster_start made. */
typedef struct {
    int nnodes;
    duro_test_node node[DURO_TEST_CLUSTER_MAX];
    /* redis+cluster://127.0.0.1:p1,127.0.0.1:p2,... (every master) */
    char seed_url[512];
    /* redis://127.0.0.1:p1: one node; a client detects the cluster */
    char node_url[64];
    /* a slot duro_test_cluster_move_begin left migrating, or -1 */
    int moving_slot, moving_from, moving_to;
    char appendonly[4]; /* how the nodes run ("yes", "no") */
    int node_timeout_ms;
} duro_test_cluster;

/* duro_test_harness: zero it (static storage does) before
 * duro_test_redis_start. */
typedef struct {
    char dir[PATH_MAX];  /* temp dir: redis files and child logs */
    int redis_port;      /* a cluster's: its first master's */
    char redis_url[512]; /* a cluster's: its seed URL */
    pid_t redis_pid;
    duro_test_child children[DURO_TEST_MAX_CHILDREN];
    int nchildren;
    bool passed; /* set by duro_test_finish */
    bool stopped;
    int bad_children;          /* what stop found */
    bool tls;                  /* duro_test_redis_start_tls: TLS only */
    char tls_auth[16];         /* tls-auth-clients: optional, yes */
    char tls_server[32];       /* base name of the server's certificate */
    char tls_dir[PATH_MAX];    /* the generated CA and certificates */
    duro_test_cluster cluster; /* duro_test_cluster_start's, if any */
} duro_test_harness;

/* duro_test_redis_start starts redis-server on 127.0.0.1 on a free port in
 * a new temp dir, waits until it answers PING (5s), exports DURO_REDIS_URL
 * and registers the harness for duro_test_fini / atexit. Fails the test
 * (cr_assert) when no server comes up. */
void duro_test_redis_start(duro_test_harness *h);

/* duro_test_dir_start: the temp dir and the stop-at-exit of
 * duro_test_redis_start without a server (a test that starts its own, a
 * cluster, `duro dev`). */
void duro_test_dir_start(duro_test_harness *h);

/* duro_test_write_file writes text into a new file `name` of the temp dir,
 * mode 0600 (key and password files are refused when others may read
 * them), and its path into path (size bytes). Fails the test when it
 * cannot. */
void duro_test_write_file(const duro_test_harness *h, const char *name,
                          const char *text, char *path, size_t size);

/* ---- Redis Cluster (harness_cluster.c) ---- */

/* duro_test_cluster_opts: how duro_test_cluster_start runs the nodes.
 *   appendonly: "yes" or "no" (NULL: "no");
 *   node_timeout_ms: cluster-node-timeout (0: 1000), how soon a dead
 *     master is failed over. */
typedef struct {
    const char *appendonly;
    int node_timeout_ms;
} duro_test_cluster_opts;

/* duro_test_cluster_start starts masters * (1 + replicas_per_master)
 * redis-servers in cluster mode on free loopback ports (each in its own
 * directory under h->dir, with cluster-replica-validity-factor 0 so that a
 * replica always takes over), joins them with `redis-cli --cluster create
 * ... --cluster-replicas R`, and waits (30s at most) until every node
 * says cluster_state:ok with all 16384 slots served, knows every other
 * node, and every replica's link to its master is up. Then h->cluster
 * holds the topology, h->redis_url and $DURO_REDIS_URL the seed URL,
 * h->redis_port the first master's port; $DURO_PARTITIONS is 16. Calls
 * duro_test_dir_start when the harness has no temp dir yet. The nodes
 * are the harness's children (SIGKILLed at stop: nothing to save).
 * Asserts. */
void duro_test_cluster_start(duro_test_harness *h, int masters,
                             int replicas_per_master,
                             const duro_test_cluster_opts *o);

/* duro_test_cluster_redis: a new connection to node idx (asserts). */
redisContext *duro_test_cluster_redis(duro_test_harness *h, int idx);

/* duro_test_cluster_info: the value of `field` in node idx's CLUSTER
 * INFO into buf ("" when the node does not answer). Returns buf. */
char *duro_test_cluster_info(duro_test_harness *h, int idx, const char *field,
                             char *buf, size_t size);

/* duro_test_cluster_ok: every live node says cluster_state:ok with
 * 16384 slots ok. */
bool duro_test_cluster_ok(duro_test_harness *h);

/* duro_test_key_slot: the hash slot of key, as Redis Cluster computes
 * it (the {tag} when the key has a non-empty one). */
int duro_test_key_slot(const char *key);

/* duro_test_partition_slot: the slot of partition p's keys ({p<n>}). */
int duro_test_partition_slot(int p);

/* duro_test_cluster_owner: the index of the node that node `asked` says
 * serves slot (CLUSTER SLOTS), or -1. */
int duro_test_cluster_owner(duro_test_harness *h, int asked, int slot);

/* duro_test_cluster_wf_master: the index of the master that serves
 * workflow id's partition (of `partitions`: its keys' {p<n>} slot), as
 * the first live master's CLUSTER SLOTS says, or -1. */
int duro_test_cluster_wf_master(duro_test_harness *h, const char *id,
                                int partitions);

/* duro_test_cluster_master: a live master's index other than `not` (-1:
 * any), or -1. */
int duro_test_cluster_master(duro_test_harness *h, int not );

/* duro_test_cluster_refresh rereads the topology (masters, replicas)
 * from a live node's CLUSTER NODES into h->cluster. */
void duro_test_cluster_refresh(duro_test_harness *h);

/* Moving a slot by hand, as `redis-cli --cluster reshard` does, in steps
 * a test can interleave with a running workload:
 *   duro_test_cluster_move_begin: CLUSTER SETSLOT slot IMPORTING on node
 *     `to`, MIGRATING on its owner; from then on the owner answers ASK
 *     for keys it no longer has and TRYAGAIN for a multi-key command
 *     with some keys moved.
 *   duro_test_cluster_move_keys: MIGRATEs up to max keys of the slot
 *     from the owner to `to`; returns how many it moved (0: none left).
 *   duro_test_cluster_move_end: moves whatever is left, then SETSLOT slot
 *     NODE on `to`, the old owner and every other master, and waits (10s)
 *     until every live node maps the slot to `to`.
 *   duro_test_cluster_move_slot: all three.
 * Each asserts. */
void duro_test_cluster_move_begin(duro_test_harness *h, int slot, int to);
int duro_test_cluster_move_keys(duro_test_harness *h, int max);
void duro_test_cluster_move_end(duro_test_harness *h);
void duro_test_cluster_move_slot(duro_test_harness *h, int slot, int to);

/* duro_test_cluster_kill sends SIGKILL to node idx (a crash: nothing
 * saved) and marks it killed. */
void duro_test_cluster_kill(duro_test_harness *h, int idx);

/* duro_test_cluster_wait_promotion waits (timeout_ms) until a replica of
 * the killed master idx has become a master and every live node is back
 * to cluster_state:ok; rereads the topology and returns the new
 * master's index (asserts). */
int duro_test_cluster_wait_promotion(duro_test_harness *h, int idx,
                                     int64_t timeout_ms);

/* duro_test_cluster_restart starts killed node idx again on its port,
 * with its directory and nodes.conf (a crashed machine back): a master
 * that was failed over rejoins as a replica of the node that took over,
 * which then has a replica to confirm WAIT again. Waits (timeout_ms)
 * until every live node is ok and idx is a replica with its link up (or
 * a master serving slots, when no replica took over). Asserts. */
void duro_test_cluster_restart(duro_test_harness *h, int idx,
                               int64_t timeout_ms);

/* ---- TLS (harness_tls.c) ---- */

/* duro_test_tls_opts: how duro_test_redis_start_tls runs the server.
 *   auth_clients: redis's tls-auth-clients (NULL: "optional": a client
 *     certificate is checked when one is given);
 *   server_cert: which generated certificate the server presents (NULL:
 *     "server", for 127.0.0.1 and localhost; "other-name": one for
 *     other.example only, signed by the same CA; "foreign": one for
 *     127.0.0.1 signed by other-ca). A test may change h->tls_server
 *     before duro_test_redis_restart. */
typedef struct {
    const char *auth_clients;
    const char *server_cert;
} duro_test_tls_opts;

/* duro_test_redis_start_tls is duro_test_redis_start with a TLS-only
 * server (--port 0 --tls-port P). Once per test process it generates with
 * the openssl program, in <dir>/tls: a CA (ca.crt), the server's
 * certificates (server, other-name), a client certificate (client.crt,
 * client.key) and a second, unrelated CA (other-ca.crt). It exports
 * DURO_REDIS_URL=rediss://127.0.0.1:P, DURO_REDIS_TLS_CA (ca.crt) and the
 * client certificate (DURO_REDIS_TLS_CERT/_KEY) for the programs the test
 * starts; a test changes them with setenv/unsetenv before it starts one.
 * The harness's own connections (readiness, duro_test_redis) use the
 * generated files whatever the environment says, and trust both CAs; a
 * TLS server is never given a password (the readiness check needs a
 * PING that succeeds). */
void duro_test_redis_start_tls(duro_test_harness *h,
                               const duro_test_tls_opts *o);

/* duro_test_tls_file: the path of a generated file ("ca.crt",
 * "client.key", "other-ca.crt", ...) into buf. Returns buf. */
char *duro_test_tls_file(const duro_test_harness *h, const char *name,
                         char *buf, size_t size);

/* duro__test_redis_start_as_set: duro_test_redis_start without zeroing h
 * (the TLS fields are set). */
void duro__test_redis_start_as_set(duro_test_harness *h);

/* duro__test_tls_prepare generates the certificates (once per process)
 * and duro__test_tls_args appends the server's TLS arguments for port to
 * argv (at most 12); both are the harness's (harness.c calls them). */
void duro__test_tls_prepare(duro_test_harness *h);
int duro__test_tls_args(duro_test_harness *h, const char *port, char **argv);

/* duro__test_collect_args copies the NULL-terminated char * arguments
 * of ap into args, at most max of them, then a NULL (args holds max + 1):
 * the harness's variadic calls (duro_test_spawn, duro_test_run, ...). */
void duro__test_collect_args(va_list ap, char **args, int max);

/* duro__test_tls_connect: a context to the TLS server (NULL if none). */
redisContext *duro__test_tls_connect(const duro_test_harness *h,
                                     int timeout_ms);

/* duro_test_spawn starts DURO_BIN_DIR/<prog> with the NULL-terminated
 * arguments, stdout+stderr to a log file; returns the pid. */
pid_t duro_test_spawn(duro_test_harness *h, const char *prog, ...)
    __attribute__((sentinel));
pid_t duro_test_spawnv(duro_test_harness *h, const char *prog,
                       char *const args[]);

/* duro_test_spawn_redis starts another redis-server (a replica, a
 * sentinel) with the NULL-terminated arguments, its output in
 * <dir>/<name>.log, as a child the harness stops like the others. */
pid_t duro_test_spawn_redis(duro_test_harness *h, const char *name, ...)
    __attribute__((sentinel));

/* duro_test_kill sends sig to a child started by the harness and, for a
 * fatal signal, remembers that the test meant it (it is not a crash). */
void duro_test_kill(duro_test_harness *h, pid_t pid, int sig);

/* duro_test_alive: the child has not exited yet. */
bool duro_test_alive(duro_test_harness *h, pid_t pid);

/* duro_test_wait_exit waits up to timeout_ms for a child to end by itself
 * (a fatal error it must not retry) and returns its exit code, or -1 when
 * it is still running or died by a signal. A child ended this way does not
 * count as ending badly. */
int duro_test_wait_exit(duro_test_harness *h, pid_t pid, int64_t timeout_ms);

/* duro_test_stop_all sends SIGTERM to every child still running (redis
 * last), waits up to 5s, SIGKILLs the rest and removes the temp dir.
 * Returns how many Duro children ended badly: a non-zero exit after SIGTERM
 * or death by a signal the test did not send. Idempotent. */
int duro_test_stop_all(duro_test_harness *h);

/* duro_test_finish stops everything, asserts that every child shut down
 * cleanly, and marks the test passed (so no logs are dumped). Call it as
 * the last line of a test. */
void duro_test_finish(duro_test_harness *h);

/* duro_test_fini: a Criterion .fini: dumps the logs when the test did not
 * finish, then stops everything. */
void duro_test_fini(void);

/* duro_test_dump_logs prints the last `lines` lines of each child's log to
 * stderr. */
void duro_test_dump_logs(duro_test_harness *h, int lines);

/* ---- Waiting ---- */

/* duro_test_mono_ms: a monotonic clock in ms. */
int64_t duro_test_mono_ms(void);
void duro_test_sleep_ms(int64_t ms);

/* duro_test_wait_until(expr, timeout_ms) evaluates expr every 10 ms until
 * it is true or the deadline passes; yields whether it became true. */
#define duro_test_wait_until(expr, timeout_ms)                                 \
    ({                                                                         \
        int64_t dt_deadline_ = duro_test_mono_ms() + (timeout_ms);             \
        bool dt_ok_;                                                           \
        while (!(dt_ok_ = (expr)) && duro_test_mono_ms() < dt_deadline_)       \
            duro_test_sleep_ms(10);                                            \
        dt_ok_;                                                                \
    })

/* ---- Running a command to completion ---- */

/* duro_test_output: what duro_test_run captured; free with
 * duro_test_output_free. */
typedef struct {
    int exit_code; /* -1 when it died by a signal or timed out */
    bool timed_out;
    int64_t elapsed_ms;
    char *out; /* stdout, NUL-terminated */
    char *err; /* stderr */
} duro_test_output;

/* duro_test_run runs DURO_BIN_DIR/<prog> with the NULL-terminated
 * arguments and waits up to timeout_ms (then SIGKILL). */
void duro_test_run(duro_test_harness *h, duro_test_output *o,
                   int64_t timeout_ms, const char *prog, ...)
    __attribute__((sentinel));
void duro_test_output_free(duro_test_output *o);

/* duro_test_acl_apply makes role's Redis user as an operator would: it runs
 * `duro operator acl --role role --password-file password_file` and sends
 * each line printed to root (a connection allowed ACL SETUSER), word by
 * word, as redis-cli would; asserts each is accepted, and that no line
 * holds secret (the password itself; NULL: not checked). */
void duro_test_acl_apply(duro_test_harness *h, redisContext *root,
                         const char *role, const char *password_file,
                         const char *secret);

/* duro_test_acl_password_file: where role's password file is, in h's
 * directory (a buffer per role, good for the test's life). */
const char *duro_test_acl_password_file(const duro_test_harness *h,
                                        const char *role);

/* duro_test_acl_users makes the four duro-<role> users by this build's
 * rules (duro_test_acl_apply), each with the password "Pw-<role>-<tag>"
 * in its duro_test_acl_password_file. */
void duro_test_acl_users(duro_test_harness *h, redisContext *root,
                         const char *tag);

/* duro_test_acl_send sends line to root as one command, its words split at
 * blanks and newlines as redis-cli would split them; asserts +OK. */
void duro_test_acl_send(redisContext *root, const char *line);

/* duro_test_acl_rule: role's ACL SETUSER line for user, as `duro operator
 * acl --role role --user user` prints it with role's password file,
 * without the word drop (NULL: none; asserted present). The caller frees
 * it. */
char *duro_test_acl_rule(duro_test_harness *h, const char *role,
                         const char *user, const char *drop);

/* duro_test_acl_init runs `duro operator init` as duro-admin (made by
 * duro_test_acl_users with tag) with up to two more arguments (NULL:
 * none), waiting up to timeout_ms. */
void duro_test_acl_init(duro_test_harness *h, duro_test_output *o,
                        const char *tag, int64_t timeout_ms, const char *a1,
                        const char *a2);

/* duro_test_library_loaded: whether root's server holds the duro Functions
 * library. */
bool duro_test_library_loaded(redisContext *root);

/* duro_test_key_swap_in puts a string where key was, atomically (what key
 * held kept aside as key + ":saved", so that nothing written in between is
 * lost or made); duro_test_key_swap_out puts key back as it was. */
void duro_test_key_swap_in(redisContext *r, const char *key);
void duro_test_key_swap_out(redisContext *r, const char *key);

/* duro_test_partition_dump: every key of partition p with its DUMP in hex
 * (a DUMP holds NUL bytes, where a comparison of raw texts would stop),
 * sorted by name, as one text: equal before and after a call that wrote
 * nothing. The caller frees it. */
char *duro_test_partition_dump(redisContext *r, int p);

/* ---- Redis and client access ---- */

/* duro_test_redis: a new hiredis connection to the test server (asserts). */
redisContext *duro_test_redis(duro_test_harness *h);
/* duro_test_client: a new client for the test server (asserts). */
duro_client *duro_test_client(duro_test_harness *h);

/* duro_test_start starts a workflow through the client (asserts). input
 * may be NULL; task_timeout_ms 0 = default. */
void duro_test_start(duro_client *c, const char *id, const char *type,
                     const char *queue, const char *input,
                     int64_t task_timeout_ms);

/* duro_test_result waits (timeout_ms) for the workflow to close and
 * returns its describe object (asserts). Caller frees. */
cJSON *duro_test_result(duro_client *c, const char *id, int64_t timeout_ms);

/* duro_test_history: the current run's events (asserts). Caller frees. */
cJSON *duro_test_history(duro_client *c, const char *id);

/* duro_test_count_events: events of `type` in a history array. */
int duro_test_count_events(const cJSON *history, const char *type);

/* duro_test_assert_each_activity_once asserts that history (of workflow
 * id) records ActivityCompleted at most once for each seq, each in
 * 1..max_seq. */
void duro_test_assert_each_activity_once(const cJSON *history, const char *id,
                                         int max_seq);

/* duro_test_field_is: whether the fields of a stream entry (an array of
 * name, value...) hold name = value. */
bool duro_test_field_is(const redisReply *fields, const char *name,
                        const char *value);
/* duro_test_find_event: the n-th (0-based) event of `type`, or NULL. */
const cJSON *duro_test_find_event(const cJSON *history, const char *type,
                                  int n);
/* duro_test_event_data: an event's "data" member (may be NULL). */
const cJSON *duro_test_event_data(const cJSON *event);
/* duro_test_event_time_ms: the ISO "time" of an event, in ms since the
 * epoch (-1 when absent or unparseable). */
int64_t duro_test_event_time_ms(const cJSON *event);
/* duro_test_num: a number member of o, or `def`. */
double duro_test_num(const cJSON *o, const char *name, double def);
/* duro_test_str: a string member of o, or "". */
const char *duro_test_str(const cJSON *o, const char *name);

/* duro_test_redis_restart stops the test's redis-server with stop_signal
 * (SIGTERM: a clean shutdown that flushes an append-only file; SIGKILL:
 * nothing is saved), waits down_ms, and starts it again on the same port
 * and data directory with `appendonly` (yes/no) and the NULL-terminated
 * extra arguments (NULL for none); returns once it answers a PING (an
 * error such as NOAUTH counts as an answer). */
void duro_test_redis_restart(duro_test_harness *h, int stop_signal,
                             int64_t down_ms, const char *appendonly,
                             const char *const *extra);

/* duro_test_redis_stop and duro_test_redis_start_again are the two halves
 * of duro_test_redis_restart, for a test that changes the server's files
 * while it is down (e.g. cuts the end off its append-only file, as a
 * power loss would). */
void duro_test_redis_stop(duro_test_harness *h, int stop_signal);
void duro_test_redis_start_again(duro_test_harness *h, const char *appendonly,
                                 const char *const *extra);

/* duro_test_claim_task reads one new entry of task stream `stream` as
 * consumer `consumer` of Duro's group, as a worker would: its entry id and
 * the value of `field` (both asserted present). */
void duro_test_claim_task(redisContext *r, const char *stream,
                          const char *consumer, const char *field, char *entry,
                          size_t esize, char *value, size_t vsize);

/* duro_test_free_port: a TCP port on 127.0.0.1 nothing listens on now. */
int duro_test_free_port(void);

/* duro_test_count_lines: lines of the file at path that start with prefix
 * (0 when it does not exist), e.g. the executions the test worker logs to
 * $DURO_TEST_LOG. */
int duro_test_count_lines(const char *path, const char *prefix);

/* duro_test_http_get fetches path from 127.0.0.1:port (a worker's or
 * scheduler's /metrics, /healthz, /readyz): returns the status code, with
 * the whole answer (headers and body, NUL-terminated) in buf when buf is
 * not NULL; -1 when nothing answered. */
int duro_test_http_get(int port, const char *path, char *buf, size_t size);

/* duro_test_log_contains: the log of child `pid` (started by the harness)
 * holds the text s. With duro_test_wait_until it waits for a program to
 * report that it is up, e.g. "REDIS UP": a test that stops its children
 * within milliseconds of starting them otherwise races their startup. */
bool duro_test_log_contains(duro_test_harness *h, pid_t pid, const char *s);

/* ---- Duro's programs and clients (harness_workload.c) ---- */

/* duro_test_wait_up waits (timeout_ms) until child pid, a Duro program
 * the harness started, logs REDIS UP (connected, its library checked):
 * a test that counts on the program's work before then races its
 * startup. Asserts. */
void duro_test_wait_up(duro_test_harness *h, pid_t pid, int64_t timeout_ms);

/* duro_test_spawn_up starts DURO_BIN_DIR/<prog> with the NULL-terminated
 * arguments, as duro_test_spawn does, then waits for it as
 * duro_test_wait_up does; returns its pid. The harness stops it
 * (duro_test_finish, duro_test_stop_all). */
pid_t duro_test_spawn_up(duro_test_harness *h, int64_t timeout_ms,
                         const char *prog, ...) __attribute__((sentinel));

/* duro_test_stopped_count: the number after " name=" in the STOPPED line
 * (the counters a stopping worker logs) of the log of child pid, or -1
 * when the child or the counter is not there. */
long duro_test_stopped_count(const duro_test_harness *h, pid_t pid,
                             const char *name);

/* duro_test_spawn_scheduler_and_worker starts duro-scheduler
 * (--scan-interval 100ms), then duro-test-worker, on $DURO_REDIS_URL,
 * each waited for as duro_test_spawn_up does: pids[0] is the
 * scheduler's, pids[1] the worker's. The harness stops both
 * (duro_test_finish, duro_test_stop_all). */
void duro_test_spawn_scheduler_and_worker(duro_test_harness *h,
                                          int64_t timeout_ms, pid_t pids[2]);

/* duro_test_client_url: a new client for url, e.g. a cluster's seed or
 * node URL, rather than the harness's server (asserts). The caller frees
 * it (duro_client_free). */
duro_client *duro_test_client_url(const char *url);

/* duro_test_result_retrying waits (timeout_ms) for the workflow to close
 * as an application would across a failover: a call that meets a
 * transient error (connection lost, CLUSTERDOWN, READONLY, NOREPLICAS)
 * or its own 5 s timeout is made again. Returns the describe object
 * (caller frees); asserts. */
cJSON *duro_test_result_retrying(duro_client *c, const char *id,
                                 int64_t timeout_ms);

/* duro_test_assert_echoed: d, the describe of a closed run of the test
 * worker's "activities" workflow given {"n":n}, says COMPLETED with the
 * result {"echoed":[0, 1, ..., n-1]}; id names the run in messages. */
void duro_test_assert_echoed(const cJSON *d, const char *id, int n);

/* ---- What Redis is sent and holds (harness_watch.c) ---- */

/* duro_test_monitor: a new connection to the test server in MONITOR
 * mode (asserts): from then on it receives every command the server
 * runs, those the Functions run included ("[0 lua]"). The caller reads
 * it (redisGetReply) and frees it (redisFree). */
redisContext *duro_test_monitor(duro_test_harness *h);

/* duro_test_monitor_seen: the commands monitor connection m received until
 * 300ms pass without one, one per line, in a malloc'd text the caller
 * frees; m is freed. */
char *duro_test_monitor_seen(redisContext *m);

/* duro_test_cmd runs a command given as NULL-terminated strings (at most
 * DURO_TEST_CMD_MAX) on c and returns its reply, error replies included;
 * asserts that a reply came. The caller frees it. */
#define DURO_TEST_CMD_MAX 64
redisReply *duro_test_cmd(redisContext *c, ...) __attribute__((sentinel));

/* duro_test_cmd_ok runs a command as duro_test_cmd does and asserts that
 * Redis did not answer with an error; the reply is freed. */
void duro_test_cmd_ok(redisContext *c, ...) __attribute__((sentinel));

/* duro_test_redis_now_ms: the clock of the server c is connected to
 * (TIME), in ms since the epoch; asserts. */
int64_t duro_test_redis_now_ms(redisContext *c);

/* duro_test_library_code: the code of the library loaded in the server
 * c is connected to (FUNCTION LIST WITHCODE), malloc'd: the caller frees
 * it. Asserts that exactly one library (Duro's) is loaded. */
char *duro_test_library_code(redisContext *c);

/* duro_test_archive_lines: how many lines of namespace ns's archive files
 * in dir (duro-scheduler --archive-dir) contain s. */
int duro_test_archive_lines(const char *dir, const char *ns, const char *s);

#endif
