/* acl_roles.c: which Redis commands and Functions each Duro role needs.
 *
 * This is the one place the grants live. A new Redis command in the code
 * or a new Function in common/lua/duro.lua adds one row here;
 * tests/unit/test_acl_roles.c fails while a registered Function or a
 * command a Function runs is in no row, and tests/integration/test_acl.c
 * runs every component as its own restricted user.
 *
 * Redis checks the commands a Function runs (redis.call) against the ACL
 * of the user who called FCALL, so every role that calls a Function that
 * writes also holds the data commands of the Functions' bodies (FN below)
 * on the duro: keys. What the ACL keeps from a role is everything else:
 * other applications' keys, the Functions it does not call (a client
 * cannot complete a workflow task), and administration (FLUSHALL, CONFIG,
 * KEYS, FUNCTION LOAD/FLUSH/DELETE, SHUTDOWN, ACL, DEBUG, ...), of which
 * admin holds FUNCTION LOAD, and ACL USERS and ACL DRYRUN (init's check
 * of the other users, cli_acl_check.c) only. */
#include <string.h>

#include "acl_roles.h"

#define W DURO_ACL_WORKER
#define S DURO_ACL_SCHEDULER
#define C DURO_ACL_CLIENT
#define A DURO_ACL_ADMIN
#define ALL (W | S | C)
/* FN: the roles that call Functions which write (every one of them). */
#define FN (W | S | C)
/* RO: a Function called with FCALL_RO (read-only), granted as such. */
#define RO DURO_ACL_RO

/* ---- Commands ---- */

const duro__acl_grant duro__acl_commands[] = {
    /* connecting (duro_redis_open, the async handshake and its guard) */
    {"ping", ALL},
    {"select", ALL}, /* a URL's /db */
    {"role", ALL},   /* redis+sentinel://: is it the master? */
    /* Redis Cluster: the slot map; ASK's one-command redirection */
    {"cluster|slots", ALL},
    {"asking", ALL},
    {"hget", ALL},
    {"hgetall", ALL},
    /* describe; a reset and visibility in Functions */ /* duro:meta's
                                                           partitions; wf
                                                           fields; in Functions
                                                         */
    {"hsetnx", ALL}, /* duro:meta, created or restored by a given count */
    {"zcard", FN},   /* the guard counts open workflows; a namespace's count */
    /* run inside the Functions (and some directly) */
    {"del", FN},
    {"hdel", FN},
    {"hmget", FN},
    {"hset", FN},
    {"lindex", FN}, /* a reset checks its point; an older run's ends */
    {"llen", FN},   /* a history's length */
    {"lrange", FN},
    {"publish", FN},  /* duro:wake, duro:closed:{pN} */
    {"spublish", FN}, /* closed:{pN}, <prefix>{pN}:wake on a cluster */
    {"rpush", FN},    /* the buffer; a worker's query answer */
    {"time", FN},
    {"type", FN},
    /* a key's type probed by its count, before a call's first write
     * (probe in duro.lua); XLEN also workers' and clients' backlog */
    {"hlen", FN},
    {"scard", FN},
    {"xlen", FN},
    {"xack", FN},
    {"xadd", FN}, /* tasks; duro:dead; a client's query */
    {"xdel", FN},
    {"xtrim", FN}, /* task streams, after an ack (docs/internals.md) */
    /* workers' reads; a commit's eager activity dispatch reads for its
     * worker (duro_wft_complete, duro_act_complete: callers of every
     * role) */
    {"xreadgroup", FN},
    {"xrevrange", FN},
    {"zadd", FN},
    {"zrange", FN},
    {"zrem", FN},
    {"zscore", FN},
    /* retention: a closed run's keys expire; a new run of the id keeps its
     * hash */
    {"pexpire", FN},
    {"persist", FN},
    /* DURO_REDIS_WAIT: replicas confirm each Function call that writes */
    {"wait", FN},
    /* visibility: rows and their indexes (read by duro_vis_scan) */
    {"exists", FN},
    {"zcount", FN},
    {"zrank", FN},
    {"zrevrank", FN},
    {"zrevrange", FN},
    /* schedules' Functions (duro_sched_*) */
    {"hincrby", FN},
    {"lpush", FN},
    {"ltrim", FN},
    {"sadd", FN}, /* duro:queues (workers); a partition's schedules */
    {"srem", FN},
    /* flow control: duro_conc_acquire drops expired leases, and its key
     * ends with the last one */
    {"zremrangebyscore", FN},
    {"pexpireat", FN},
    /* workers: task streams, histories, query answers, shutdown */
    {"xgroup|create", W},
    {"xgroup|delconsumer", W},
    {"xclaim", W}, /* an asynchronous activity's task to DURO_ASYNC_CONSUMER */
    {"xrange", W | S | C},
    {"expire", W},
    {"client|id", W},
    {"client|unblock", W},       /* wakes its own blocked reads on stop */
    {"ssubscribe", W | C},       /* a cluster: <prefix>{pN}:wake, closed:{pN} */
    {"xinfo|groups", W | S | C}, /* backlog; the scheduler's trim.c */
    /* schedulers: timers, the reclaim scan, wake-ups */
    {"subscribe", S | C},     /* duro:wake; a client's duro:closed:{pN} */
    {"unsubscribe", C},       /* a client keeps its subscriber between waits */
    {"sunsubscribe", C},      /* the same on a cluster */
    {"xpending", FN},         /* the reclaim scan; k, q timers; ack trims */
    {"smembers", S | C},      /* duro:queues */
    {"zrangebyscore", S | C}, /* timers, the sweep; delete */
    /* clients: describe, list, result, queries, queue stats */
    {"blpop", C},
    {"xinfo|consumers", C},
    /* namespaces: the registry is read with exists/smembers/hgetall, above */
    /* admin: `duro operator init`, `duro operator namespace create|delete` */
    {"function|load", A},
    {"scan", A},
    {"unlink", A},
    /* init first checks every Duro user's grants (cli_acl_check.c): the
     * names and one DRYRUN per grant; not ACL GETUSER or ACL LIST, which
     * show password hashes */
    {"acl|users", A},
    {"acl|dryrun", A},
    {NULL, 0},
};

/* ---- Functions (FCALL first argument) ---- */

const duro__acl_grant duro__acl_functions[] = {
    {"duro_version", ALL},
    {"duro_start", S | C}, /* S: a schedule's actions */
    {"duro_signal", C},
    {"duro_signal_with_start", C},
    {"duro_cancel", S | C},    /* S: overlap policy CancelOther */
    {"duro_terminate", S | C}, /* S: overlap policy TerminateOther */
    {"duro_update", C},
    {"duro_wft_complete", W},
    {"duro_wft_fail", W},
    {"duro_act_complete", W | C}, /* C: asynchronous completion */
    {"duro_act_heartbeat", W | C},
    {"duro_act_release", W},
    {"duro_sticky_release", W},
    {"duro_fair_next", W},
    {"duro_fair_took", W},
    {"duro_history_upgrade", W | C}, /* an old (stream) history met */
    {"duro_reset", C},
    {"duro_purge", S | C}, /* the retention sweep; duro workflow delete */
    {"duro_vis_scan", C | RO},
    /* duro operator visibility-backfill; the scheduler's migration of
     * idx:open/idx:closed */
    {"duro_vis_backfill", S | C},
    {"duro_wft_timeout", S},
    {"duro_act_timeout", S},
    {"duro_timer_fire", S},
    {"duro_sched_upsert", C},
    {"duro_sched_pause", C},
    {"duro_sched_request", C},
    {"duro_sched_delete", C},
    {"duro_sched_claim", S},
    {"duro_sched_fire", S},
    {"duro_rate_take", W},    /* a rate-limited queue's reads */
    {"duro_conc_acquire", W}, /* an activity with a concurrency key */
    /* crossing partitions: the outbox records (scheduler/src/transfer.c) */
    {"duro_xfer_take", S},
    {"duro_xfer_apply", S},
    {"duro_xfer_ack", S},
    {NULL, 0},
};

/* ---- Roles ---- */

static const struct {
    const char *name;
    unsigned role;
} ROLES[] = {
    {"worker", W},
    {"scheduler", S},
    {"client", C},
    {"admin", A},
};

unsigned duro__acl_role_lookup(const char *name)
{
    for (size_t i = 0; name && i < sizeof(ROLES) / sizeof(ROLES[0]); i++)
        if (strcmp(ROLES[i].name, name) == 0) return ROLES[i].role;
    return 0;
}

const char *duro__acl_role_name(unsigned role)
{
    for (size_t i = 0; i < sizeof(ROLES) / sizeof(ROLES[0]); i++)
        if (ROLES[i].role == role) return ROLES[i].name;
    return "?";
}

bool duro__acl_has(const duro__acl_grant *row, unsigned role)
{
    return role == A || (row->roles & role) != 0;
}

void duro__acl_rules(unsigned role, const char *password_rule, duro_argv *a)
{
    duro_argv_push(a, "reset");
    duro_argv_push(a, "on");
    if (password_rule) duro_argv_push(a, password_rule);
    /* reset may leave allchannels (acl-pubsub-default); a pattern after
     * it is an error */
    duro_argv_push(a, "resetchannels");
    if (role == A) {
        duro_argv_push(a, DURO_ACL_KEYS);
    } else {
        static const char *const write_keys[] = {DURO_ACL_WRITE_KEYS};
        duro_argv_push(a, DURO_ACL_READ_KEYS);
        for (size_t i = 0; i < sizeof(write_keys) / sizeof(*write_keys); i++)
            duro_argv_push(a, write_keys[i]);
    }
    duro_argv_push(a, DURO_ACL_CHANNELS);
    duro_argv_push(a, "-@all");
    for (const duro__acl_grant *g = duro__acl_commands; g->name; g++)
        if (duro__acl_has(g, role)) duro_argv_pushf(a, "+%s", g->name);
    for (const duro__acl_grant *g = duro__acl_functions; g->name; g++)
        if (duro__acl_has(g, role))
            duro_argv_pushf(a, (g->roles & RO) ? "+fcall_ro|%s" : "+fcall|%s",
                            g->name);
}
