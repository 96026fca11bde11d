/* chaos_main.c: chaos-check's command line: `drive` and `wait`
 * (chaos_drive.c) or `check` (chaos_mix.c, over chaos_check.c's history
 * checks), with the options they take. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/config.h"
#include "duro/duration.h"
#include "chaos_tool.h"

/* ---- main ------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: chaos-check drive|wait|check [options]\n"
        "  --redis URL          Redis URL (default $DURO_REDIS_URL); a "
        "cluster\n"
        "                       is read per master (redis+cluster://h:p,...)\n"
        "  --seed S             the run's seed (drive, check)\n"
        "  --workflows N        workflows chaos-<S>-0..N-1 (drive, check)\n"
        "  --spread D           drive: start them over D (default 30s)\n"
        "  --timeout D          wait: give up after D (default 2m)\n"
        "  --settle D           check: time for queues to drain (default 20s)\n"
        "  --kills K --redis-restarts R --wall W --crashes C\n"
        "                       check: for the summary line (crashes fail)\n"
        "  --master-kills M     check: cluster masters killed (summary line)\n"
        "$DURO_CODEC_KEY_FILE: the payload codec's keys, as the workers'\n");
}

static int duration_arg(const char *s, int64_t *out)
{
    if (duro_duration_parse(s, out) != 0) {
        fprintf(stderr, "chaos-check: bad duration '%s'\n", s);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {{"redis", 1, 0, 'r'},
                                             {"seed", 1, 0, 's'},
                                             {"workflows", 1, 0, 'n'},
                                             {"spread", 1, 0, 'S'},
                                             {"timeout", 1, 0, 't'},
                                             {"settle", 1, 0, 'T'},
                                             {"kills", 1, 0, 'k'},
                                             {"redis-restarts", 1, 0, 'R'},
                                             {"wall", 1, 0, 'w'},
                                             {"crashes", 1, 0, 'c'},
                                             {"master-kills", 1, 0, 'm'},
                                             {"help", 0, 0, 'h'},
                                             {0, 0, 0, 0}};
    chaos_args a = {.redis_url = duro_redis_url_default(),
                    .workflows = 100,
                    .spread_ms = 30000,
                    .timeout_ms = 120000,
                    .settle_ms = 20000,
                    .master_kills = -1};
    if (argc < 2 || argv[1][0] == '-') {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *command = argv[1];
    int c, bad = 0;
    optind = 2;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'r':
            a.redis_url = optarg;
            break;
        case 's':
            a.seed = strtoull(optarg, NULL, 10);
            break;
        case 'n':
            a.workflows = (int)strtol(optarg, NULL, 10);
            break;
        case 'S':
            bad |= duration_arg(optarg, &a.spread_ms);
            break;
        case 't':
            bad |= duration_arg(optarg, &a.timeout_ms);
            break;
        case 'T':
            bad |= duration_arg(optarg, &a.settle_ms);
            break;
        case 'k':
            a.kills = (int)strtol(optarg, NULL, 10);
            break;
        case 'R':
            a.redis_restarts = (int)strtol(optarg, NULL, 10);
            break;
        case 'w':
            a.wall = optarg;
            break;
        case 'c':
            a.crashes = (int)strtol(optarg, NULL, 10);
            break;
        case 'm':
            a.master_kills = (int)strtol(optarg, NULL, 10);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            bad = 1;
        }
    }
    if (bad || a.workflows <= 0) {
        usage(stderr);
        return 2;
    }
    duro_codec *codec = NULL;
    char err[256];
    if (duro_codec_aes_from_env(&codec, err, sizeof(err)) != 0) {
        fprintf(stderr, "chaos-check: %s: %s\n", DURO_CODEC_KEY_FILE_ENV, err);
        return 2;
    }
    a.codec = codec;
    int rc = 2;
    if (strcmp(command, "drive") == 0)
        rc = chaos_drive(&a);
    else if (strcmp(command, "wait") == 0)
        rc = chaos_wait(&a);
    else if (strcmp(command, "check") == 0)
        rc = chaos_check(&a);
    else
        usage(stderr);
    duro_codec_aes_free(codec);
    return rc;
}
