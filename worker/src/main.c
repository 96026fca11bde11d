/* main.c: duro_worker_main, the flags every Duro worker program shares. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "duro/duration.h"
#include "duro/errno.h"
#include "duro/log.h"
#include "duro/size.h"
#include "worker_internal.h"

static void usage(FILE *out, const char *prog, const duro_worker *w)
{
    char stack[32];
    char url[256];
    fprintf(
        out,
        "Usage: %s [options]\n"
        "\n"
        "Runs a Duro worker: claims workflow and activity tasks from Redis.\n"
        "Flags override environment variables, which override defaults.\n"
        "\n"
        "  --redis URL                 Redis URL [$DURO_REDIS_URL, %s]\n"
        "  --task-queue NAME           task queue to poll [$DURO_TASK_QUEUE, "
        "%s]\n"
        "  --activity-threads N        activities run at once "
        "[$DURO_ACTIVITY_THREADS, %d]\n"
        "  --max-workflow-tasks N      workflow tasks in progress at once\n"
        "                              [$DURO_MAX_WORKFLOW_TASKS, %d]\n"
        "  --cache-size N              runs kept in memory [$DURO_CACHE_SIZE, "
        "%d]\n"
        "  --shutdown-grace D          time for in-flight activities on "
        "SIGTERM\n"
        "                              [$DURO_SHUTDOWN_GRACE, 30s]\n"
        "  --workflow-stack-size SIZE  each workflow's stack, e.g. 256k, 1m\n"
        "                              [$DURO_WORKFLOW_STACK_SIZE, %s]\n"
        "  --identity NAME             consumer name [host-pid-random]\n"
        "  --sticky-schedule-to-start D|off  how long a cached run's next "
        "task\n"
        "                              waits for this worker before any "
        "worker\n"
        "                              takes it "
        "[$DURO_STICKY_SCHEDULE_TO_START, "
        "5s]\n"
        "  --namespace NAME            the namespace whose tasks it runs\n"
        "                              [$DURO_NAMESPACE, default]\n"
        "  --partitions N              the namespace's partition count, "
        "1..1024\n"
        "                              [$DURO_PARTITIONS, duro:meta's, or 16 "
        "for a new one]\n"
        "  --redis-stall-timeout D     not ready while Redis does not answer "
        "a PING\n"
        "                              this long "
        "[$DURO_REDIS_STALL_TIMEOUT, 5s]\n"
        "  --loop-stall-timeout D      /healthz says 503 once the worker's "
        "loop has\n"
        "                              not turned this long (workflow code "
        "that\n"
        "                              never yields) "
        "[$DURO_LOOP_STALL_TIMEOUT, 60s]\n"
        "  --redis-wait N              replicas that must confirm each write "
        "(WAIT)\n"
        "                              [$DURO_REDIS_WAIT, 0]\n"
        "  --codec-key-file FILE       encrypt payloads with the first key of "
        "FILE,\n"
        "                              decrypt with any "
        "[$DURO_CODEC_KEY_FILE, off]\n"
        "  --replay FILE               replay a history exported with\n"
        "                              `duro workflow history -o json` against "
        "this\n"
        "                              worker's code and exit (0: it matches)\n"
        "  --metrics-addr HOST:PORT    serve /metrics, /healthz, /readyz "
        "there, e.g.\n"
        "                              127.0.0.1:9464 or 0.0.0.0:9464 "
        "[$DURO_METRICS_ADDR, off]\n"
        "  --log-level LEVEL           debug|info|warn|error [$DURO_LOG_LEVEL, "
        "info]\n"
        "  --help                      this text\n"
        "\n"
        "Logs go to stderr; DURO_LOG_FORMAT=json gives JSON lines.\n",
        prog, duro_redis_url_redact(w->redis_url, url, sizeof(url)),
        w->task_queue ? w->task_queue : "(required)", w->activity_threads,
        w->max_workflow_tasks, w->cache_size,
        duro_size_format(w->workflow_stack_size ? w->workflow_stack_size
                                                : DURO__CORO_STACK_DEFAULT,
                         stack, sizeof(stack)));
}

/* parse_stack_size reads a workflow stack size (coro.h bounds it). */
static int parse_stack_size(const char *flag, const char *v, size_t *out)
{
    size_t n;
    if (duro_size_parse(v, &n) != 0 || n < DURO__CORO_STACK_MIN ||
        n > DURO__CORO_STACK_MAX) {
        fprintf(stderr,
                "error: %s wants a size from 16k to 1g, like 256k or 1m, got "
                "\"%s\"\n",
                flag, v);
        return -1;
    }
    *out = n;
    return 0;
}

static int parse_int(const char *flag, const char *v, int *out)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (!*v || *end || n < 1 || n > 1000000) {
        fprintf(stderr, "error: %s wants a positive integer, got \"%s\"\n",
                flag, v);
        return -1;
    }
    *out = (int)n;
    return 0;
}

static int parse_partitions(const char *flag, const char *v, int *out)
{
    if (parse_int(flag, v, out) != 0) return -1;
    if (*out > DURO_MAX_PARTITIONS) {
        fprintf(stderr, "error: %s must be 1..%d, got \"%s\"\n", flag,
                DURO_MAX_PARTITIONS, v);
        return -1;
    }
    return 0;
}

static int parse_duration(const char *flag, const char *v, int64_t *out)
{
    if (duro_duration_parse(v, out) != 0 || *out <= 0) {
        fprintf(stderr, "error: %s wants a duration like 30s, got \"%s\"\n",
                flag, v);
        return -1;
    }
    return 0;
}

/* parse_sticky reads the sticky schedule-to-start timeout: a duration, or
 * "off" (no sticky execution, kept as 0). */
static int parse_sticky(const char *flag, const char *v, int64_t *out)
{
    if (strcmp(v, "off") == 0) {
        *out = 0;
        return 0;
    }
    return parse_duration(flag, v, out);
}

/* set_str replaces *dst with a copy of v (NULL: none); -1 when out of
 * memory (*dst is left as it was). */
static int set_str(char **dst, const char *v)
{
    char *copy = v ? strdup(v) : NULL;
    if (v && !copy) {
        fprintf(stderr, "error: %s\n", duro_strerror(DURO_ENOMEM));
        return -1;
    }
    free(*dst);
    *dst = copy;
    return 0;
}

/* apply_env reads the DURO_* variables over the defaults. */
static int apply_env(duro_worker *w)
{
    const char *v;
    if ((v = getenv("DURO_TASK_QUEUE")) && *v) {
        if (set_str(&w->task_queue, v)) return -1;
    }
    if ((v = getenv("DURO_ACTIVITY_THREADS")) && *v &&
        parse_int("DURO_ACTIVITY_THREADS", v, &w->activity_threads))
        return -1;
    if ((v = getenv("DURO_MAX_WORKFLOW_TASKS")) && *v &&
        parse_int("DURO_MAX_WORKFLOW_TASKS", v, &w->max_workflow_tasks))
        return -1;
    if ((v = getenv("DURO_CACHE_SIZE")) && *v &&
        parse_int("DURO_CACHE_SIZE", v, &w->cache_size))
        return -1;
    if ((v = getenv("DURO_METRICS_ADDR")) && *v) {
        if (set_str(&w->metrics_addr, v)) return -1;
    }
    if ((v = getenv("DURO_SHUTDOWN_GRACE")) && *v &&
        parse_duration("DURO_SHUTDOWN_GRACE", v, &w->shutdown_grace_ms))
        return -1;
    if ((v = getenv("DURO_WORKFLOW_STACK_SIZE")) && *v &&
        parse_stack_size("DURO_WORKFLOW_STACK_SIZE", v,
                         &w->workflow_stack_size))
        return -1;
    if ((v = getenv("DURO_PARTITIONS")) && *v &&
        parse_partitions("DURO_PARTITIONS", v, &w->partitions))
        return -1;
    if ((v = getenv("DURO_STICKY_SCHEDULE_TO_START")) && *v &&
        parse_sticky("DURO_STICKY_SCHEDULE_TO_START", v, &w->sticky_ms))
        return -1;
    if ((v = getenv("DURO_REDIS_STALL_TIMEOUT")) && *v &&
        parse_duration("DURO_REDIS_STALL_TIMEOUT", v, &w->stall_timeout_ms))
        return -1;
    if ((v = getenv("DURO_LOOP_STALL_TIMEOUT")) && *v &&
        parse_duration("DURO_LOOP_STALL_TIMEOUT", v, &w->loop_stall_ms))
        return -1;
    return 0;
}

/* load_codec installs the built-in codec with the keys of `path` (NULL or
 * "": none, the codec of the worker's options stays). */
static int load_codec(duro_worker *w, const char *path)
{
    if (!path || !*path) return 0;
    char err[512];
    duro_codec *c;
    if (duro_codec_aes_new(path, &c, err, sizeof(err)) != 0) {
        fprintf(stderr, "error: %s\n", err);
        return -1;
    }
    duro_info("CODEC aes-256-gcm key_file=%s", path);
    duro_codec_aes_free(w->own_codec);
    w->own_codec = c;
    w->codec = c;
    return 0;
}

/* replay_file runs the replay checker on a history file: exit 0 when the
 * code reproduces it, 1 when it does not, 2 when the file is unusable. */
static int replay_file(duro_worker *w, const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "error: cannot open %s\n", path);
        return 2;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (n + 1 == cap) {
            char *bigger = realloc(buf, cap *= 2);
            if (!bigger) {
                free(buf);
                buf = NULL;
            }
            buf = bigger;
        }
    }
    if (f != stdin) fclose(f);
    if (!buf) return 2;
    buf[n] = '\0';
    char report[1024];
    int rc = duro_replay_history(w, buf, report, sizeof(report));
    free(buf);
    printf("%s\n", report);
    return rc == 0 ? 0 : rc == DURO_ENONDET ? 1 : 2;
}

int duro_worker_main(duro_worker *w, int argc, char **argv)
{
    duro__catch_early_signals();
    const char *prog =
        strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    duro_log_init(prog);
    if (apply_env(w) != 0) return 2;
    enum {
        O_REDIS = 1,
        O_QUEUE,
        O_THREADS,
        O_MAXWFT,
        O_CACHE,
        O_GRACE,
        O_ID,
        O_LOG,
        O_HELP,
        O_REPLAY,
        O_METRICS,
        O_STACK,
        O_PARTITIONS,
        O_STALL,
        O_CODEC,
        O_STICKY,
        O_NAMESPACE,
        O_WAIT,
        O_LOOP_STALL
    };
    static const struct option longopts[] = {
        {"redis", required_argument, NULL, O_REDIS},
        {"task-queue", required_argument, NULL, O_QUEUE},
        {"activity-threads", required_argument, NULL, O_THREADS},
        {"max-workflow-tasks", required_argument, NULL, O_MAXWFT},
        {"cache-size", required_argument, NULL, O_CACHE},
        {"shutdown-grace", required_argument, NULL, O_GRACE},
        {"identity", required_argument, NULL, O_ID},
        {"log-level", required_argument, NULL, O_LOG},
        {"help", no_argument, NULL, O_HELP},
        {"replay", required_argument, NULL, O_REPLAY},
        {"metrics-addr", required_argument, NULL, O_METRICS},
        {"workflow-stack-size", required_argument, NULL, O_STACK},
        {"partitions", required_argument, NULL, O_PARTITIONS},
        {"redis-stall-timeout", required_argument, NULL, O_STALL},
        {"codec-key-file", required_argument, NULL, O_CODEC},
        {"sticky-schedule-to-start", required_argument, NULL, O_STICKY},
        {"namespace", required_argument, NULL, O_NAMESPACE},
        {"redis-wait", required_argument, NULL, O_WAIT},
        {"loop-stall-timeout", required_argument, NULL, O_LOOP_STALL},
        {NULL, 0, NULL, 0},
    };
    int c, bad = 0;
    const char *replay = NULL;
    const char *key_file = getenv(DURO_CODEC_KEY_FILE_ENV);
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case O_REDIS:
            bad |= set_str(&w->redis_url, optarg) != 0;
            break;
        case O_WAIT: /* read where the URL is parsed */
            setenv("DURO_REDIS_WAIT", optarg, 1);
            break;
        case O_QUEUE:
            bad |= set_str(&w->task_queue, optarg) != 0;
            break;
        case O_THREADS:
            bad |=
                parse_int("--activity-threads", optarg, &w->activity_threads);
            break;
        case O_MAXWFT:
            bad |= parse_int("--max-workflow-tasks", optarg,
                             &w->max_workflow_tasks);
            break;
        case O_CACHE:
            bad |= parse_int("--cache-size", optarg, &w->cache_size);
            break;
        case O_GRACE:
            bad |= parse_duration("--shutdown-grace", optarg,
                                  &w->shutdown_grace_ms);
            break;
        case O_ID:
            bad |= set_str(&w->identity, optarg) != 0;
            break;
        case O_LOG: {
            int level = duro__log_level_parse(optarg);
            if (level >= 0) {
                duro_log_set_level((duro_log_level)level);
            } else {
                fprintf(stderr, "error: unknown log level \"%s\"\n", optarg);
                bad = 1;
            }
            break;
        }
        case O_REPLAY:
            replay = optarg;
            break;
        case O_METRICS:
            bad |= set_str(&w->metrics_addr, *optarg ? optarg : NULL) != 0;
            break;
        case O_STACK:
            bad |= parse_stack_size("--workflow-stack-size", optarg,
                                    &w->workflow_stack_size);
            break;
        case O_PARTITIONS:
            bad |= parse_partitions("--partitions", optarg, &w->partitions);
            break;
        case O_STALL:
            bad |= parse_duration("--redis-stall-timeout", optarg,
                                  &w->stall_timeout_ms);
            break;
        case O_LOOP_STALL:
            bad |= parse_duration("--loop-stall-timeout", optarg,
                                  &w->loop_stall_ms);
            break;
        case O_CODEC:
            key_file = optarg;
            break;
        case O_STICKY:
            bad |= parse_sticky("--sticky-schedule-to-start", optarg,
                                &w->sticky_ms);
            break;
        case O_NAMESPACE:
            if (duro_keyspace_init(&w->ks, optarg, w->partitions)) {
                fprintf(stderr,
                        "error: bad namespace \"%s\" (1..64 of "
                        "[A-Za-z0-9._-])\n",
                        optarg);
                bad = 1;
            }
            break;
        case 'h':
        case O_HELP:
            usage(stdout, prog, w);
            return 0;
        default:
            fprintf(stderr, "error: unknown or incomplete option \"%s\"\n",
                    argv[optind - 1]);
            bad = 1;
        }
    }
    if (!bad && optind < argc) {
        fprintf(stderr, "error: unexpected argument \"%s\"\n", argv[optind]);
        bad = 1;
    }
    if (bad) {
        fprintf(stderr, "Run '%s --help' for the options.\n", prog);
        return 2;
    }
    if (load_codec(w, key_file) != 0) return 2;
    if (replay) {
        free(w->metrics_addr);
        w->metrics_addr = NULL;
        return replay_file(w, replay);
    }
    int rc = duro_worker_run(w); /* serves w->metrics_addr, if any */
    if (rc == DURO_EINVAL) return 2;
    if (rc == DURO_ETIMEDOUT) {
        /* stopped after the grace period with activity threads or Redis
         * calls left running (work handed back or left to its timeout):
         * they, and what they hold, end with the process now, rather than
         * run on while the exit's handlers tear the process down */
        fflush(NULL);
        _exit(0);
    }
    return rc == 0 ? 0 : 1;
}
