/* main.c: duro-scheduler: options, startup against Redis, then the loop. */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "duro/clock.h"
#include "duro/config.h"
#include "duro/duration.h"
#include "duro/errno.h"
#include "duro/keys.h"
#include "duro/log.h"
#include "duro/redis.h"
#include "duro/scheduler.h"

/* opts: flags override the environment, which overrides the defaults. */
typedef struct {
    const char *redis_url;
    int partitions;
    int batch;
    int64_t scan_interval_ms;
    int64_t stall_timeout_ms;
    const char *metrics_addr;
    const char *namespace_;
    const char *archive_dir;
} opts;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: duro-scheduler [options]\n"
            "\n"
            "Fires due timers (workflow timers, activity retries and\n"
            "timeouts, workflow timeouts) and times out tasks held by dead\n"
            "workers. Several schedulers may run at once.\n"
            "\n"
            "  --redis URL            Redis URL (env DURO_REDIS_URL;\n"
            "                         default " DURO_DEFAULT_REDIS_URL ")\n"
            "  --partitions N         the namespace's partitions, 1..1024\n"
            "                         (env DURO_PARTITIONS; default: what\n"
            "                         duro:meta says, 16 for a new one);\n"
            "                         another count in duro:meta is an error\n"
            "  --redis-stall-timeout D  not ready (/readyz) while Redis\n"
            "                         does not answer a PING this long (env\n"
            "                         DURO_REDIS_STALL_TIMEOUT; default 5s)\n"
            "  --redis-wait N         replicas that must confirm each write\n"
            "                         (WAIT; env DURO_REDIS_WAIT; default 0)\n"
            "  --batch N              timers fetched per partition per round\n"
            "                         (env DURO_BATCH; default 256)\n"
            "  --scan-interval D      clock refresh and task timeout scan\n"
            "                         period, e.g. 500ms, 1s (env\n"
            "                         DURO_SCAN_INTERVAL; default 1s)\n"
            "  --metrics-addr A       serve /metrics, /healthz and /readyz\n"
            "                         on host:port, e.g. 127.0.0.1:9464 or\n"
            "                         0.0.0.0:9464 (env DURO_METRICS_ADDR;\n"
            "                         default off)\n"
            "  --namespace NAME       serve this namespace only (default:\n"
            "                         every namespace, new ones found each\n"
            "                         scan interval)\n"
            "  --archive-dir DIR      write each closed run's history to\n"
            "                         DIR/<namespace>-<day>.jsonl before\n"
            "                         retention removes it (env\n"
            "                         DURO_ARCHIVE_DIR; default off)\n"
            "  --log-level L          debug|info|warn|error (env\n"
            "                         DURO_LOG_LEVEL; default info)\n"
            "  -h, --help             this text\n"
            "\n"
            "Logs go to stderr; DURO_LOG_FORMAT=json gives JSON lines.\n"
            "The Redis password may come from DURO_REDIS_PASSWORD_FILE or\n"
            "DURO_REDIS_PASSWORD rather than the URL (ps shows it).\n");
}

static int parse_int(const char *what, const char *s, int lo, int hi, int *out)
{
    char *end;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || !*s || *end || v < lo || v > hi) {
        fprintf(stderr, "duro-scheduler: bad %s '%s' (%d..%d)\n", what,
                s ? s : "", lo, hi);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int parse_interval(const char *s, int64_t *out)
{
    if (duro_duration_parse(s, out) || *out < 10) {
        fprintf(stderr, "duro-scheduler: bad scan interval '%s' (>= 10ms)\n",
                s);
        return -1;
    }
    return 0;
}

static int parse_stall(const char *s, int64_t *out)
{
    if (duro_duration_parse(s, out) || *out < 10) {
        fprintf(stderr,
                "duro-scheduler: bad redis stall timeout '%s' (>= 10ms)\n", s);
        return -1;
    }
    return 0;
}

static int parse_level(const char *s)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) {
            duro_log_set_level((duro_log_level)i);
            return 0;
        }
    fprintf(stderr, "duro-scheduler: bad log level '%s'\n", s);
    return -1;
}

/* parse_opts: 0, 1 for --help, -1 for a bad option (already reported). */
static int parse_opts(int argc, char **argv, opts *o)
{
    o->redis_url = duro_redis_url_default();
    o->metrics_addr = duro_env("DURO_METRICS_ADDR", NULL);
    o->archive_dir = duro_env("DURO_ARCHIVE_DIR", NULL);
    const char *parts = duro_env("DURO_PARTITIONS", NULL);
    if ((parts && parse_int("DURO_PARTITIONS", parts, 1, DURO_MAX_PARTITIONS,
                            &o->partitions)) ||
        parse_stall(duro_env("DURO_REDIS_STALL_TIMEOUT", "5s"),
                    &o->stall_timeout_ms) ||
        parse_int("DURO_BATCH", duro_env("DURO_BATCH", "256"), 1, 100000,
                  &o->batch) ||
        parse_interval(duro_env("DURO_SCAN_INTERVAL", "1s"),
                       &o->scan_interval_ms))
        return -1;
    static const struct option longs[] = {
        {"redis", required_argument, NULL, 'r'},
        {"partitions", required_argument, NULL, 'p'},
        {"batch", required_argument, NULL, 'b'},
        {"scan-interval", required_argument, NULL, 's'},
        {"log-level", required_argument, NULL, 'l'},
        {"metrics-addr", required_argument, NULL, 'm'},
        {"redis-stall-timeout", required_argument, NULL, 't'},
        {"namespace", required_argument, NULL, 'n'},
        {"archive-dir", required_argument, NULL, 'a'},
        {"redis-wait", required_argument, NULL, 'w'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int c, rc = 0;
    while (rc == 0 && (c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (c) {
        case 'r':
            o->redis_url = optarg;
            break;
        case 'p':
            rc = parse_int("--partitions", optarg, 1, DURO_MAX_PARTITIONS,
                           &o->partitions);
            break;
        case 'b':
            rc = parse_int("--batch", optarg, 1, 100000, &o->batch);
            break;
        case 's':
            rc = parse_interval(optarg, &o->scan_interval_ms);
            break;
        case 't':
            rc = parse_stall(optarg, &o->stall_timeout_ms);
            break;
        case 'l':
            rc = parse_level(optarg);
            break;
        case 'm':
            o->metrics_addr = *optarg ? optarg : NULL;
            break;
        case 'n':
            if (duro_namespace_check(optarg, NULL, 0)) {
                fprintf(stderr, "duro-scheduler: bad namespace '%s'\n", optarg);
                return -1;
            }
            o->namespace_ = optarg;
            break;
        case 'a':
            o->archive_dir = *optarg ? optarg : NULL;
            break;
        case 'w': /* read where the URL is parsed */
            setenv("DURO_REDIS_WAIT", optarg, 1);
            break;
        case 'h':
            return 1;
        default:
            return -1;
        }
    }
    if (rc == 0 && optind < argc) {
        fprintf(stderr, "duro-scheduler: unexpected argument '%s'\n",
                argv[optind]);
        return -1;
    }
    return rc;
}

/* ---- Signals ---- */

/* main owns SIGTERM/SIGINT for the whole run, from its first line (not the
 * library's uv_signal handles: they leave a gap before the loop starts and
 * put back SIG_DFL when they close). The handler only sets stop_signal
 * and, once the loop exists, wakes it through stop_async
 * (uv_async_send is async-signal-safe). A SIGINT after any earlier signal
 * exits at once. */
static atomic_int stop_signal;
static atomic_int async_live; /* stop_async may be sent */
static atomic_int in_handler; /* handlers that may be in uv_async_send */
static uv_async_t stop_async;

static void on_signal(int sig)
{
    int saved_errno = errno;
    atomic_fetch_add(&in_handler, 1);
    int prev = 0; /* the first signal is the one we keep */
    atomic_compare_exchange_strong(&stop_signal, &prev, sig);
    if (prev && sig == SIGINT) {
        static const char msg[] = "duro-scheduler: second SIGINT, exiting\n";
        ssize_t n = write(STDERR_FILENO, msg, sizeof(msg) - 1);
        (void)n;
        _exit(130);
    }
    if (atomic_load(&async_live)) uv_async_send(&stop_async);
    atomic_fetch_sub(&in_handler, 1);
    errno = saved_errno;
}

static void catch_signals(void)
{
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART; /* nanosleep and poll still end with EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static void on_stop_async(uv_async_t *h)
{
    duro_scheduler *s = h->data;
    if (!s) return; /* already asked */
    duro_info("STOP signal=%d", atomic_load(&stop_signal));
    duro_scheduler_stop(s);
    h->data = NULL;
}

/* stop_async_close: no handler may be inside uv_async_send when the handle
 * (and later the loop's wakeup fd) goes away. */
static void stop_async_close(uv_loop_t *loop)
{
    atomic_store(&async_live, 0);
    while (atomic_load(&in_handler))
        sched_yield();
    uv_close((uv_handle_t *)&stop_async, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
}

/* ---- Startup ---- */

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL); /* EINTR ends it early: the caller checks */
}

/* setup connects synchronously to learn the partition count (and load the
 * Functions), retrying with backoff while Redis is unreachable. Returns 0,
 * 1 when stopped by a signal, or a DURO_E* code for a fatal problem. */
static int setup(duro_scheduler *s, const duro_redis_url *url)
{
    int64_t backoff = 100;
    char last[256] = "";
    while (!atomic_load(&stop_signal)) {
        char err[256] = "";
        int rc = duro_scheduler_setup(s, err, sizeof(err));
        /* a signal may have cut a connect or a read short */
        if (atomic_load(&stop_signal)) break;
        if (rc == 0) return 0;
        if (!duro_err_is_transient(rc)) {
            duro_error("SETUP FAILED code=%s err=%s (not retrying)",
                       duro_err_name(rc), err);
            return rc;
        }
        /* once per distinct reason: a wait for `duro operator init` can
         * be long, and says the same thing every time */
        if (strcmp(err, last) != 0)
            duro_warn("SETUP WAIT addr=%s:%d err=%s (retrying)", url->host,
                      url->port, err);
        else
            duro_debug("SETUP WAIT err=%s (still retrying)", err);
        snprintf(last, sizeof(last), "%s", err);
        sleep_ms(backoff + rand() % (backoff / 4 + 1));
        backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
    }
    return 1;
}

int main(int argc, char **argv)
{
    catch_signals();
    duro_log_init("scheduler");
    opts o = {0};
    int prc = parse_opts(argc, argv, &o);
    if (prc > 0) {
        usage(stdout);
        return 0;
    }
    if (prc < 0) {
        fprintf(stderr, "see duro-scheduler --help\n");
        return 2;
    }
    duro_redis_url url;
    char err[256];
    if (duro_redis_url_parse(o.redis_url, &url, err, sizeof(err))) {
        fprintf(stderr, "duro-scheduler: %s\n", err);
        return 2;
    }
    duro_scheduler_opts so = {.redis_url = o.redis_url,
                              .partitions = o.partitions,
                              .batch = o.batch,
                              .scan_interval_ms = o.scan_interval_ms,
                              .metrics_addr = o.metrics_addr,
                              .redis_stall_timeout_ms = o.stall_timeout_ms,
                              .namespace_ = o.namespace_,
                              .archive_dir = o.archive_dir};
    duro_scheduler *s;
    int rc = duro_scheduler_new(&s, &so);
    if (rc) return rc == DURO_EINVAL ? 2 : 1;
    srand((unsigned)duro_mono_us());
    rc = setup(s, &url);
    if (rc == 1) {
        duro_info("STOP signal=%d before start", atomic_load(&stop_signal));
        duro_scheduler_free(s);
        return 0;
    }
    if (rc) {
        duro_scheduler_free(s);
        return 1;
    }
    uv_loop_t *loop = uv_default_loop();
    /* Unreferenced: the scheduler's handles alone keep the loop running. */
    uv_async_init(loop, &stop_async, on_stop_async);
    uv_unref((uv_handle_t *)&stop_async);
    stop_async.data = s;
    rc = duro_scheduler_start(s, loop);
    atomic_store(&async_live, 1);
    if (atomic_load(&stop_signal)) /* came before async_live */
        uv_async_send(&stop_async);
    uv_run(loop, UV_RUN_DEFAULT);
    stop_async_close(loop);
    int fatal = duro_scheduler_error(s);
    if (fatal)
        fprintf(stderr, "duro-scheduler: stopped: %s (see REDIS FATAL above)\n",
                duro_strerror(fatal));
    duro_scheduler_free(s);
    uv_loop_close(loop);
    return rc || fatal ? 1 : 0;
}
