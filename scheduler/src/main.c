/* main.c: duro-scheduler: options, startup against Redis, then the loop. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "duro/clock.h"
#include "duro/config.h"
#include "duro/duration.h"
#include "duro/errno.h"
#include "duro/keys.h"
#include "duro/log.h"
#include "duro/redis.h"
#include "scheduler.h"

#define DEFAULT_BATCH 256
#define DEFAULT_SCAN_MS 1000
#define CONNECT_TIMEOUT_MS 2000

/* opts: flags override the environment, which overrides the defaults. */
typedef struct {
    const char *redis_url;
    int partitions;
    int batch;
    int64_t scan_interval_ms;
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
            "  --partitions N         partitions when duro:meta has none yet\n"
            "                         (env DURO_PARTITIONS; default 16)\n"
            "  --batch N              timers fetched per partition per round\n"
            "                         (env DURO_BATCH; default 256)\n"
            "  --scan-interval D      clock refresh and task timeout scan\n"
            "                         period, e.g. 500ms, 1s (env\n"
            "                         DURO_SCAN_INTERVAL; default 1s)\n"
            "  --log-level L          debug|info|warn|error (env\n"
            "                         DURO_LOG_LEVEL; default info)\n"
            "  -h, --help             this text\n");
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
    if (parse_int("DURO_PARTITIONS", duro_env("DURO_PARTITIONS", "16"), 1,
                  16384, &o->partitions) ||
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
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int c, rc = 0;
    while (rc == 0 && (c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (c) {
        case 'r':
            o->redis_url = optarg;
            break;
        case 'p':
            rc = parse_int("--partitions", optarg, 1, 16384, &o->partitions);
            break;
        case 'b':
            rc = parse_int("--batch", optarg, 1, 100000, &o->batch);
            break;
        case 's':
            rc = parse_interval(optarg, &o->scan_interval_ms);
            break;
        case 'l':
            rc = parse_level(optarg);
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

/* ---- Startup ---- */

/* Until the loop installs its signal handlers, a signal only asks the
 * startup retry loop to give up (so SIGTERM still exits 0). */
static volatile sig_atomic_t startup_stop;

static void on_startup_signal(int sig)
{
    startup_stop = sig;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL); /* EINTR ends it early: the caller checks */
}

/* read_clock: Redis TIME minus our monotonic clock, via the midpoint. */
static int64_t read_clock(redisContext *c)
{
    int64_t t0 = duro_mono_us();
    redisReply *r = redisCommand(c, "TIME");
    int64_t mid = (t0 + duro_mono_us()) / 2;
    int64_t off = duro_now_ms() - duro_mono_ms();
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
        long long sec, usec;
        if (reply_ll(r->element[0], &sec) == 0 &&
            reply_ll(r->element[1], &usec) == 0)
            off = (int64_t)sec * 1000 + usec / 1000 - mid / 1000;
    }
    freeReplyObject(r);
    return off;
}

/* setup connects synchronously to learn the partition count (and load the
 * Functions), retrying with backoff while Redis is unreachable. Returns 0,
 * 1 when stopped by a signal, or a DURO_E* code for a fatal problem. */
static int setup(sched *s, int default_partitions)
{
    int64_t backoff = 100;
    int logged = 0;
    while (!startup_stop) {
        char err[256] = "";
        redisContext *c =
            duro_redis_connect(&s->url, CONNECT_TIMEOUT_MS, err, sizeof(err));
        int rc = c ? duro_redis_setup(c, default_partitions, &s->partitions,
                                      err, sizeof(err))
                   : DURO_ECONN;
        if (rc == 0) {
            s->clock_offset_ms = read_clock(c);
            redisFree(c);
            return 0;
        }
        if (c) redisFree(c);
        if (rc != DURO_ECONN) {
            duro_error("SETUP FAILED err=%s", err);
            return rc;
        }
        if (!logged++)
            duro_warn("REDIS DOWN name=scheduler-setup addr=%s:%d err=%s "
                      "(retrying)",
                      s->url.host, s->url.port, err);
        sleep_ms(backoff + rand() % (backoff / 4 + 1));
        backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
    }
    return 1;
}

int main(int argc, char **argv)
{
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
    sched s = {0};
    char err[256];
    if (duro_redis_url_parse(o.redis_url, &s.url, err, sizeof(err))) {
        fprintf(stderr, "duro-scheduler: %s\n", err);
        return 2;
    }
    srand((unsigned)duro_mono_us());
    struct sigaction sa = {0};
    sa.sa_handler = on_startup_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    int rc = setup(&s, o.partitions);
    if (rc == 1) {
        duro_info("STOP signal=%d before start", (int)startup_stop);
        return 0;
    }
    if (rc) return 1;
    s.loop = uv_default_loop();
    s.batch = o.batch;
    s.scan_interval_ms = o.scan_interval_ms;
    duro_info("START redis=%s:%d db=%d partitions=%d batch=%d scan=%lldms",
              s.url.host, s.url.port, s.url.db, s.partitions, s.batch,
              (long long)s.scan_interval_ms);
    rc = sched_run(&s);
    uv_loop_close(s.loop);
    return rc ? 1 : 0;
}
