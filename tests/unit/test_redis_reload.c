/* test_redis_reload.c: the synchronous reload after "function not found"
 * (duro_redis_call) against a scripted server, for the orders of events a
 * real Redis does not let a test choose: another component's library
 * arriving between this one's duro_version and its FUNCTION LOAD (all
 * components reload at once after a FUNCTION FLUSH); and what it logs
 * when the LOAD is refused. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <hiredis/hiredis.h>

#include "duro/log.h"
#include "duro/redis.h"

TestSuite(redis_reload, .timeout = 10);

/* fake: what the scripted server answers and what it saw. */
typedef struct {
    int fd;
    bool version_missing;   /* duro_version never answers (not Duro's) */
    const char *load_error; /* FUNCTION LOAD's answer, when it fails */
    int versions;           /* duro_version calls so far */
    int loads, replaces;    /* FUNCTION LOAD without and with REPLACE */
} fake;

/* read_command reads one command (a RESP array of bulk strings) from in:
 * its argument count in argc, its first three words (cut at 31 bytes) in
 * words. false at the end of the stream. */
static bool read_command(FILE *in, char words[3][32], int *argc)
{
    char line[64];
    if (!fgets(line, sizeof(line), in) || line[0] != '*') return false;
    *argc = (int)strtol(line + 1, NULL, 10);
    for (int i = 0; i < *argc; i++) {
        if (!fgets(line, sizeof(line), in) || line[0] != '$') return false;
        long len = strtol(line + 1, NULL, 10);
        char *buf = malloc((size_t)len + 2);
        if (!buf || fread(buf, 1, (size_t)len + 2, in) != (size_t)len + 2) {
            free(buf);
            return false;
        }
        if (i < 3)
            snprintf(words[i], 32, "%.*s", (int)(len < 31 ? len : 31), buf);
        free(buf);
    }
    return true;
}

static const char *answer(fake *f, char words[3][32], int argc)
{
    if (strcasecmp(words[0], "FUNCTION") == 0) {
        if (f->load_error) return f->load_error;
        if (argc == 4 && strcasecmp(words[2], "REPLACE") == 0) {
            f->replaces++;
            return "$4\r\nduro\r\n";
        }
        f->loads++;
        return "-ERR Library 'duro' already exists\r\n";
    }
    if (strcmp(words[1], "duro_version") == 0) {
        /* missing when first asked; then another component's library,
         * newer, is there (or, not Duro's, it never answers) */
        if (f->versions++ == 0 || (f->version_missing && f->replaces == 0))
            return "-ERR Function not found\r\n";
        return ":999\r\n";
    }
    if (f->replaces > 0) return ":1\r\n"; /* ours is there */
    return "-ERR Function not found\r\n";
}

static void *serve(void *arg)
{
    fake *f = arg;
    FILE *in = fdopen(dup(f->fd), "r");
    char words[3][32];
    int argc;
    while (in && read_command(in, words, &argc)) {
        const char *a = answer(f, words, argc);
        if (write(f->fd, a, strlen(a)) < 0) break;
    }
    if (in) fclose(in);
    return NULL;
}

/* call: FCALL duro_start 0 through duro_redis_call against f. */
static redisReply *call(fake *f)
{
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    f->fd = sv[1];
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, serve, f), 0);
    redisContext *c = redisConnectFd(sv[0]);
    cr_assert(c && !c->err);
    duro_argv a;
    duro_argv_init(&a);
    duro_argv_push(&a, "FCALL");
    duro_argv_push(&a, "duro_start");
    duro_argv_push(&a, "0");
    redisReply *r = duro_redis_call(c, &a);
    duro_argv_free(&a);
    redisFree(c); /* closes sv[0]: the server reads EOF */
    pthread_join(t, NULL);
    close(sv[1]);
    cr_assert(r, "no reply");
    return r;
}

Test(redis_reload, a_library_loaded_between_look_and_load_is_not_replaced)
{
    fake f = {0};
    redisReply *r = call(&f);
    cr_assert_eq(f.replaces, 0,
                 "FUNCTION LOAD REPLACE put this build's library over the "
                 "newer one another component loaded meanwhile");
    cr_assert_eq(f.loads, 1);
    cr_assert_eq(f.versions, 2, "the version was not asked again");
    /* the newer library lacks duro_start: the call fails */
    cr_assert_eq(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);
}

Test(redis_reload, a_library_without_duro_version_is_replaced)
{
    fake f = {.version_missing = true};
    redisReply *r = call(&f);
    cr_assert_eq(f.loads, 1);
    cr_assert_eq(f.replaces, 1);
    cr_assert_eq(r->type, REDIS_REPLY_INTEGER, "%s", r->str ? r->str : "");
    freeReplyObject(r);
}

/* logged: the log lines of a test, one after another. */
static char logged[4096];

static void keep_line(duro_log_level level, const char *msg, void *arg)
{
    (void)level;
    (void)arg;
    size_t n = strlen(logged);
    snprintf(logged + n, sizeof(logged) - n, "%s\n", msg);
}

Test(redis_reload, a_load_refused_for_memory_is_not_blamed_on_the_acl)
{
    fake f = {.load_error = "-OOM command not allowed when used memory > "
                            "'maxmemory'.\r\n"};
    duro_log_set_sink(keep_line, NULL);
    redisReply *r = call(&f);
    duro_log_set_sink(NULL, NULL);
    cr_assert_eq(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);
    cr_assert(strstr(logged, "OOM command not allowed"), "%s", logged);
    cr_assert_null(strstr(logged, "may not load"), "%s", logged);
}

Test(redis_reload, a_load_the_acl_refuses_names_the_remedy)
{
    fake f = {.load_error = "-NOPERM this user has no permissions to run the "
                            "'function|load' command\r\n"};
    duro_log_set_sink(keep_line, NULL);
    redisReply *r = call(&f);
    duro_log_set_sink(NULL, NULL);
    cr_assert_eq(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);
    cr_assert(strstr(logged, "may not load it (NOPERM): run `duro operator "
                             "init` as the admin role"),
              "%s", logged);
}
