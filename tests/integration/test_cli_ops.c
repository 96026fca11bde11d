/* test_cli_ops.c: the duro command as an operator meets it: `duro dev`
 * leaving nothing behind, `workflow result` saying when no worker polls,
 * JSON errors, `duro health`. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static duro_test_harness h;

static void setup(void)
{
    duro_test_redis_start(&h);
}

TestSuite(cli_ops, .init = setup, .fini = duro_test_fini, .timeout = 90);

#define RUN_MS 15000

/* ---- duro dev ---- */

/* proc_gone: pid has exited (a zombie counts: it holds no port). */
static bool proc_gone(pid_t pid)
{
    if (kill(pid, 0) != 0) return errno == ESRCH;
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return true;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *close = strrchr(buf, ')'); /* "pid (comm) S ..." */
    return close && close[1] == ' ' && (close[2] == 'Z' || close[2] == 'X');
}

/* read_log_pid: the number after `tag` in the log of child `pid`. */
static pid_t read_log_pid(const char *dir, const char *tag)
{
    char path[PATH_MAX + 32], line[1024];
    snprintf(path, sizeof(path), "%s", dir);
    FILE *f = fopen(path, "r");
    pid_t found = 0;
    while (f && !found && fgets(line, sizeof(line), f)) {
        const char *p = strstr(line, tag);
        if (p) found = (pid_t)atoi(p + strlen(tag));
    }
    if (f) fclose(f);
    return found;
}

Test(cli_ops, dev_server_dies_with_duro_dev_even_by_sigkill)
{
    char port[16], dir[PATH_MAX + 16];
    snprintf(port, sizeof(port), "%d", duro_test_free_port());
    snprintf(dir, sizeof(dir), "%s/devdata", h.dir);
    pid_t dev =
        duro_test_spawn(&h, "duro", "dev", "--port", port, "--dir", dir, NULL);
    cr_assert(duro_test_wait_until(
                  duro_test_log_contains(&h, dev, "dev server ready"), 10000),
              "duro dev did not come up");
    const char *log = NULL;
    for (int i = 0; i < h.nchildren; i++)
        if (h.children[i].pid == dev) log = h.children[i].log;
    pid_t redis = read_log_pid(log, "redis-server pid ");
    cr_assert_gt(redis, 0, "no redis-server pid in the log");
    cr_assert(!proc_gone(redis), "redis-server %d is not running", (int)redis);

    duro_test_kill(&h, dev, SIGKILL);
    cr_assert(duro_test_wait_until(proc_gone(redis), 5000),
              "redis-server %d outlived duro dev killed by SIGKILL",
              (int)redis);
    /* and the port is free for the next `duro dev` */
    pid_t again =
        duro_test_spawn(&h, "duro", "dev", "--port", port, "--dir", dir, NULL);
    cr_assert(duro_test_wait_until(
                  duro_test_log_contains(&h, again, "dev server ready"), 10000),
              "a second duro dev could not take the port");
    duro_test_finish(&h);
}
