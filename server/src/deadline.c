/* deadline.c: the header and body deadlines of `duro server` (deadline.h
 * says why): a list of the open connections under a mutex, and a thread
 * that sweeps it once a second. */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "deadline.h"
#include "duro/errno.h"
#include "duro/log.h"
#include "req.h"

#define SWEEP_MS 1000
#define CLOSED "duro_http_slow_connections_closed_total"

/* conn: one open connection; due_ms 0 = no deadline now. */
typedef struct conn {
    struct conn *prev, *next;
    MHD_socket fd;
    int64_t due_ms;
    srv_part part;
} conn;

struct srv_deadlines {
    pthread_mutex_t mu; /* guards list, the entries and stop */
    pthread_cond_t wake;
    pthread_t thread;
    conn *list;
    bool stop;
    int64_t header_ms, body_ms, idle_ms;
    duro_metrics *m;
};

/* due: the deadline of part p from now, or 0. */
static int64_t due(const srv_deadlines *d, srv_part p)
{
    int64_t now = srv_mono_ms();
    switch (p) {
    case SRV_PART_HEADERS:
        return now + d->header_ms;
    case SRV_PART_BODY:
        return now + d->body_ms;
    case SRV_PART_NEXT:
        return now + d->idle_ms + d->header_ms;
    case SRV_PART_ANSWER:
        break;
    }
    return 0;
}

void srv_deadlines_notify(void *cls, struct MHD_Connection *c,
                          void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    srv_deadlines *d = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        conn *e = info ? calloc(1, sizeof(*e)) : NULL;
        *socket_context = e;
        if (!e) {
            duro_warn_limited("HTTP-NO-DEADLINE",
                              "HTTP NO-DEADLINE out of memory: a connection "
                              "without header and body deadlines");
            return;
        }
        e->fd = info->connect_fd;
        e->part = SRV_PART_HEADERS;
        e->due_ms = due(d, SRV_PART_HEADERS);
        pthread_mutex_lock(&d->mu);
        e->next = d->list;
        if (d->list) d->list->prev = e;
        d->list = e;
        pthread_mutex_unlock(&d->mu);
        return;
    }
    conn *e = *socket_context; /* MHD_CONNECTION_NOTIFY_CLOSED */
    if (!e) return;
    pthread_mutex_lock(&d->mu);
    if (e->prev)
        e->prev->next = e->next;
    else
        d->list = e->next;
    if (e->next) e->next->prev = e->prev;
    pthread_mutex_unlock(&d->mu);
    free(e);
    *socket_context = NULL;
}

void srv_deadlines_enter(srv_deadlines *d, struct MHD_Connection *c, srv_part p)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    conn *e = info ? info->socket_context : NULL;
    if (!e) return;
    int64_t t = due(d, p);
    pthread_mutex_lock(&d->mu);
    e->part = p;
    e->due_ms = t;
    pthread_mutex_unlock(&d->mu);
}

/* sweep shuts down the sockets past their deadline; counts them in
 * closed[part]. The entries stay until libmicrohttpd closes them. */
static void sweep(srv_deadlines *d, int closed[4])
{
    int64_t now = srv_mono_ms();
    for (conn *e = d->list; e; e = e->next) {
        if (e->due_ms == 0 || e->due_ms > now) continue;
        shutdown(e->fd, SHUT_RDWR);
        e->due_ms = 0;
        closed[e->part]++;
    }
}

/* report logs and counts what one sweep closed. */
static void report(srv_deadlines *d, const int closed[4])
{
    static const char *const PART[] = {"headers", "body", "answer", "next"};
    for (int p = 0; p < 4; p++) {
        if (closed[p] == 0) continue;
        char label[64] = "";
        duro_metrics_label(label, sizeof(label), "part", PART[p]);
        duro_metrics_add(d->m, CLOSED, label, (double)closed[p]);
        duro_info("HTTP SLOW-CLIENT closed=%d part=%s (not in within "
                  "its deadline)",
                  closed[p], PART[p]);
    }
}

static void *run(void *arg)
{
    srv_deadlines *d = arg;
    pthread_mutex_lock(&d->mu);
    while (!d->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += SWEEP_MS / 1000;
        int rc = 0; /* 0 = woken (spuriously, or to stop) */
        while (!d->stop && rc == 0)
            rc = pthread_cond_timedwait(&d->wake, &d->mu, &ts);
        if (d->stop) break;
        int closed[4] = {0};
        sweep(d, closed);
        pthread_mutex_unlock(&d->mu);
        report(d, closed);
        pthread_mutex_lock(&d->mu);
    }
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

int srv_deadlines_start(srv_deadlines **out, int64_t header_ms, int64_t body_ms,
                        int64_t idle_ms, duro_metrics *m)
{
    *out = NULL;
    srv_deadlines *d = calloc(1, sizeof(*d));
    if (!d) return DURO_ENOMEM;
    d->header_ms = header_ms;
    d->body_ms = body_ms;
    d->idle_ms = idle_ms;
    d->m = m;
    duro_metrics_describe(m, CLOSED, "counter",
                          "HTTP API connections closed because a request's "
                          "headers or body were not in within their "
                          "deadline, by part");
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->wake, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&d->thread, NULL, run, d) != 0) {
        pthread_cond_destroy(&d->wake);
        pthread_mutex_destroy(&d->mu);
        free(d);
        return DURO_ENOMEM;
    }
    *out = d;
    return 0;
}

void srv_deadlines_stop(srv_deadlines *d)
{
    if (!d) return;
    pthread_mutex_lock(&d->mu);
    d->stop = true;
    pthread_cond_signal(&d->wake);
    pthread_mutex_unlock(&d->mu);
    pthread_join(d->thread, NULL);
    while (d->list) { /* none after MHD_stop_daemon; kept safe anyway */
        conn *e = d->list;
        d->list = e->next;
        free(e);
    }
    pthread_cond_destroy(&d->wake);
    pthread_mutex_destroy(&d->mu);
    free(d);
}
