/* bench.h: duro-bench, the benchmark driver: shared state and helpers.
 *
 * The driver owns everything it measures: a redis-server on a free port in
 * its own temp dir, one duro-scheduler and W bench-worker processes per
 * workload (fresh processes, so peak RSS and CPU are per workload). It
 * starts workflows by pipelining FCALL duro_start on one connection and
 * learns of completions from a second connection subscribed to
 * duro:closed:* (a thread timestamps each message as it arrives), so
 * waiting never polls Redis. Results are read and verified at the end.
 */
#ifndef DURO_BENCH_H
#define DURO_BENCH_H

#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <cjson/cJSON.h>
#include <hiredis/hiredis.h>

#include "duro/client.h"
#include "duro/ids.h"
#include "duro/keys.h"

#define BENCH_MAX_WORKERS 16
#define BENCH_QUEUE "bench"

/* bench_opts: the command line. */
typedef struct {
    bool quick;
    int workers; /* 0: throughput runs W=1 and W=2, others W=1 */
    int wlist[BENCH_MAX_WORKERS]; /* --workers 1,2,4: throughput's runs */
    int nwlist;                   /* 0: as `workers` says */
    const char *only;             /* comma list of workloads, NULL = all */
    const char *json_path;
    const char *redis_server;
    bool keep;
    int n;         /* --n: throughput workflows (0: 2000, quick 200) */
    int latency_n; /* --latency-n: latency workflows (0: 200, quick 50) */
    const char *namespace_; /* --namespace: $DURO_NAMESPACE, else default */
    int soak_n;             /* --soak-n: workflows of the soak */
    bool tls; /* then throughput once more over TLS, and the ratio */
} bench_opts;

/* bench: one run of the driver. */
typedef struct {
    bench_opts o;
    char cmdline[4096];
    char bindir[PATH_MAX];
    char tmpdir[PATH_MAX];
    int port;
    char url[64];
    bool over_tls;   /* the redis-server now running is TLS-only */
    const char *tag; /* "" or " TLS": appended to W=%d in lines, figures */
    pid_t redis_pid, sched_pid;
    pid_t worker_pids[BENCH_MAX_WORKERS];
    int nworkers;
    char worker_cmd[PATH_MAX +
                    256]; /* last worker command line, for the report */
    char sched_cmd[PATH_MAX + 64];
    char redis_cmd[2 * PATH_MAX + 1536];
    /* $DURO_REDIS_ARGS, as given to redis-server (both peers run them) */
    char redis_settings[1280];
    redisContext *rc;    /* the driver's command connection */
    duro_client *client; /* signals, queries */
    duro_codec *codec;   /* $DURO_CODEC_KEY_FILE's: payloads encrypted */
    int partitions;
    duro_keyspace ks;     /* where the workloads run (bench_use_namespace) */
    int64_t retention_ms; /* its retention, stamped by the starts */
    cJSON *json;          /* the results document */
    cJSON *summary;       /* array of {figure,target,measured,met} */
    int failures;         /* verification failures: exit non-zero */
    long task_failures;   /* WFT-FAIL lines in the workers' logs */
} bench;

/* bench_stop_requested: set by SIGINT/SIGTERM; every loop checks it. */
extern volatile sig_atomic_t bench_stop_requested;

/* ---- procs.c: processes, temp dir, /proc ---- */

int64_t bench_now_us(void);
void bench_sleep_ms(int ms);
/* bench_signals_install: first SIGINT/SIGTERM asks loops to stop, a second
 * one kills every child at once and exits. */
void bench_signals_install(void);
int bench_tmpdir_make(bench *b);
void bench_tmpdir_remove(bench *b);
int bench_free_port(void);
/* bench_spawn starts argv[0] with output to logname in the temp dir,
 * DURO_REDIS_URL set; registers the pid for cleanup. -1 on failure. */
pid_t bench_spawn(bench *b, char *const argv[], const char *logname);
/* bench_stop_pid: SIGTERM, wait up to grace_ms, then SIGKILL. */
void bench_stop_pid(pid_t pid, int grace_ms);
/* bench_kill_all: stops every registered child (cleanup path). */
void bench_kill_all(void);
/* bench_proc_kb: a "Vm...:" figure of /proc/<pid>/status in kB, or -1. */
long bench_proc_kb(pid_t pid, const char *field);
/* bench_proc_cpu_ms: utime+stime of /proc/<pid>/stat in ms, or -1. */
double bench_proc_cpu_ms(pid_t pid);
/* bench_proc_ctxsw: context switches (voluntary and not) of every thread of
 * pid, from /proc/<pid>/task/<tid>/status, or -1. Threads that exited are
 * not counted: the workers keep theirs for their whole life. */
long bench_proc_ctxsw(pid_t pid);
/* bench_proc_ctxsw_of: the same, and the involuntary ones (preemptions:
 * the thread could have run on) in *nonvoluntary when not NULL. */
long bench_proc_ctxsw_of(pid_t pid, long *nonvoluntary);

/* ---- redis.c: redis-server, INFO, starts, completions, verification ---- */

int bench_redis_start(bench *b);
void bench_redis_stop(bench *b);
/* bench_redis_cmd: redisCommand with a check; NULL (and a message) on
 * error. Caller frees. */
redisReply *bench_redis_cmd(bench *b, const char *fmt, ...);

/* bench_info: what the figures need from INFO. */
typedef struct {
    double cpu_ms;       /* used_cpu_sys + used_cpu_user */
    long long calls;     /* sum of commandstats calls */
    long long processed; /* total_commands_processed */
    long long reads;     /* total_reads_processed: reads from client sockets */
    long long writes;    /* total_writes_processed: writes to them */
    long long used_memory;
    int ncmds;
    char cmd[128][32];
    long long cmd_calls[128];
} bench_info;

int bench_info_read(bench *b, bench_info *out);

/* bench_track: completions of one batch of workflows "<prefix><i>",
 * filled by the subscriber thread. */
typedef struct {
    char prefix[48];
    int n;
    int64_t *start_us; /* set by bench_start_many */
    int64_t *done_us;  /* 0 until the close message arrived */
    char (*run)[DURO_UUID_LEN + 1];
    int ndone;
} bench_track;

bench_track *bench_track_new(const char *prefix, int n);
void bench_track_free(bench_track *t);
int bench_subscriber_start(bench *b);
void bench_subscriber_stop(void);
/* bench_track_use makes t the batch the subscriber fills (NULL: none). */
void bench_track_use(bench_track *t);
/* bench_track_wait waits (no polling: a condition variable the subscriber
 * signals) until `want` workflows closed or timeout_ms passed; returns the
 * number closed. */
int bench_track_wait(bench_track *t, int want, int64_t timeout_ms);

/* bench_input_fn writes workflow i's input JSON into buf. */
typedef void (*bench_input_fn)(int i, char *buf, size_t size, void *arg);

/* bench_start_many starts workflows [from, from+n) of t with type and
 * input, pipelining up to `window` starts on the command connection.
 * Returns 0 or -1 (a start failed; reported). */
int bench_start_many(bench *b, bench_track *t, int from, int n,
                     const char *type, bench_input_fn input, void *arg,
                     int window);

/* bench_verify checks that workflows [0, n) of t are COMPLETED with result
 * `want` (JSON text); prints and counts failures. Returns the number of
 * bad ones. */
int bench_verify(bench *b, bench_track *t, int n, const char *want);

/* bench_timers_pending: the sum of ZCARD over the partitions' timers. */
long long bench_timers_pending(bench *b);

/* bench_flush empties Redis (FLUSHALL SYNC) between workloads. */
int bench_flush(bench *b);

/* ---- figures.c: recording figures ---- */

/* bench_figure adds a row to the summary: target_op ">=", "<=", "<" or
 * NULL (no target); returns whether it was met (true without a target). */
bool bench_figure(bench *b, const char *figure, const char *unit,
                  const char *target_op, double target, double measured);
double bench_percentile(double *v, int n, double q); /* sorts v */

/* ---- workloads.c, wl_timers.c, wl_memory.c ---- */

/* bench_procs_start: FLUSHALL, then one scheduler and w workers with the
 * given cache size; waits until the workers poll. */
int bench_procs_start(bench *b, int w, int cache_size);
/* bench_procs_start_flush: the same, FLUSHALL only when flush. */
int bench_procs_start_flush(bench *b, int w, int cache_size, bool flush);
void bench_procs_stop(bench *b);
/* BENCH_WINDOW: pipelined starts in flight. */
#define BENCH_WINDOW 256
/* bench_input_activities and bench_input_sleep: inputs for
 * bench_start_many, {"activities":*(int *)arg} and {"sleep":arg}. */
void bench_input_activities(int i, char *buf, size_t size, void *arg);
void bench_input_sleep(int i, char *buf, size_t size, void *arg);
/* bench_wait_all waits until every workflow of t closed; -1 (counted as a
 * failure, with a line naming `what`) when some did not in timeout_ms. */
int bench_wait_all(bench *b, bench_track *t, int64_t timeout_ms,
                   const char *what);

int bench_throughput(bench *b, int w, cJSON *out);

/* ---- cachestats.c: worker counts, --workers lists ---- */

/* bench_workers_parse reads --workers W or W,W,...: o->wlist, and
 * o->workers = the first (the other workloads use it). 0 or -1. */
int bench_workers_parse(bench_opts *o, const char *arg);
/* bench_cache_figures reads the STOPPED lines of the nworkers workers of
 * log index `log` (stopped) and reports workflow tasks, cache hits, misses
 * and replays per workflow (nwf workflows) and the hit ratio. */
void bench_cache_figures(bench *b, int log, int nworkers, int w, int nwf,
                         cJSON *out);
/* bench_throughput_ratios adds "throughput W=k / W=1" for each run of
 * runs (throughput objects) beside a W=1 run. */
void bench_throughput_ratios(bench *b, const cJSON *runs);
/* bench_throughput_tls (wl_tls.c): the plain run done, restarts Redis
 * TLS-only (a generated CA, everything on rediss://), runs throughput
 * again and adds the TLS / plain ratio to the summary. */
int bench_throughput_tls(bench *b, cJSON *res);
/* ---- connect.c ---- */

/* bench_tls_args: the certificates (generated in the temp dir), the
 * environment that trusts them, and the redis-server arguments (at most
 * 10, NULL-terminated) of a TLS listener on port, written at argv. 0 or
 * -1. */
int bench_tls_args(bench *b, const char *port, char **argv);
/* bench_connect: a connection to the bench's redis-server (plain or TLS)
 * with a timeout for connect and commands, or NULL. */
redisContext *bench_connect(bench *b, int timeout_ms);
int bench_latency(bench *b, cJSON *out);
int bench_timers(bench *b, cJSON *out);
int bench_fanout(bench *b, cJSON *out);
int bench_replay(bench *b, cJSON *out);
int bench_cache(bench *b, cJSON *out);
int bench_soak(bench *b, cJSON *out); /* wl_soak.c */
/* wl_http.c: through `duro server` beside the client directly */
int bench_http(bench *b, cJSON *out);

#endif
