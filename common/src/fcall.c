/* fcall.c: one builder per Redis Function (the key contract: fcall.h). */
#include <stdlib.h>
#include <string.h>

#include "duro/fcall.h"
#include "duro/log.h"
#include "duro/priority.h"

/* ---- The key contract ---- */

/* The canonical key order, as KEY_ORDER in common/lua/duro.lua. */
enum {
    K_WF,
    K_HIST,
    K_BUF,
    K_WFT,
    K_TIMERS,
    K_PA,
    K_IDX_OPEN,
    K_IDX_CLOSED,
    K_ACT,
    K_COUNT
};

#define BIT(n) (1u << (n))

static const char *slot(const duro_wf_keys *k, int i)
{
    switch (i) {
    case K_WF:
        return k->wf;
    case K_HIST:
        return k->hist;
    case K_BUF:
        return k->buf;
    case K_WFT:
        return k->wft;
    case K_TIMERS:
        return k->timers;
    case K_PA:
        return k->pa;
    case K_IDX_OPEN:
        return k->idx_open;
    case K_IDX_CLOSED:
        return k->idx_closed;
    default:
        return k->act;
    }
}

/* begin starts `FCALL fn <nkeys+nextra>` with the first nkeys keys of the
 * canonical order, then the extras. A slot in `unused` that the caller
 * left empty holds the timers key (same hash slot, never read). */
static void begin(duro_argv *a, const char *fn, const duro_wf_keys *k,
                  int nkeys, unsigned unused, int nextra,
                  const char *const *extra)
{
    duro_assert(nkeys <= K_COUNT && nextra >= 0);
    duro_argv_init(a);
    duro_argv_push(a, "FCALL");
    duro_argv_push(a, fn);
    duro_argv_pushll(a, nkeys + nextra);
    for (int i = 0; i < nkeys; i++) {
        const char *key = slot(k, i);
        if (!*key && (unused & BIT(i))) key = k->timers;
        duro_assert(*key); /* a key the Function uses, left unset */
        duro_argv_push(a, key);
    }
    for (int i = 0; i < nextra; i++) {
        duro_assert(extra[i] && *extra[i]);
        duro_argv_push(a, extra[i]);
    }
}

/* eager_keys: how many of c's activity streams are its eager_stream (the
 * eager tail names them by KEYS index, the first being act_base). */
static int eager_keys(const duro_fcall_commit *c)
{
    int n = 0;
    if (!c->eager_consumer || !*c->eager_consumer || c->eager_n <= 0 ||
        !c->eager_stream)
        return 0;
    for (int i = 0; i < c->nacts; i++)
        n += strcmp(c->acts[i], c->eager_stream) == 0;
    return n;
}

/* push_commit: wtc_data ncmd cmd... [sticky_worker sticky_ms
 * [eager_consumer eager_n key_index...]] */
static void push_commit(duro_argv *a, const duro_fcall_commit *c, int act_base)
{
    duro_argv_push(a, c->wtc_data);
    duro_argv_pushll(a, c->ncmd);
    for (int i = 0; c->cmds && i < c->cmds->argc; i++)
        duro_argv_pushn(a, c->cmds->argv[i], c->cmds->lens[i]);
    bool eager = eager_keys(c) > 0;
    if (c->sticky || eager) { /* "" 0: sticky to no one, as when absent */
        duro_argv_push(a, c->sticky ? c->sticky : "");
        duro_argv_pushll(a, c->sticky ? c->sticky_ms : 0);
    }
    if (!eager) return;
    duro_argv_push(a, c->eager_consumer);
    /* negative: the tasks come back flat (library 34), where an older
     * library takes none rather than answer in a shape we do not read;
     * `L<n>`: leased (library 35), which a library 34 reads as none (its
     * parse of the count refuses it) */
    if (c->eager_lease) {
        duro_argv_pushf(a, "L%d", c->eager_n); /* owned: push borrows */
    } else {
        duro_argv_pushll(a, -(long long)c->eager_n);
    }
    for (int i = 0; i < c->nacts; i++)
        if (strcmp(c->acts[i], c->eager_stream) == 0)
            duro_argv_pushll(a, act_base + i);
}

/* ---- Starting and delivering (client) ---- */

static void push_start(duro_argv *a, const duro_fcall_start_args *s)
{
    duro_argv_push(a, s->id);
    duro_argv_push(a, s->run);
    duro_argv_push(a, s->type);
    duro_argv_push(a, s->queue);
    duro_argv_push(a, s->input ? s->input : "null");
    duro_argv_push(a, s->started_data);
    duro_argv_pushll(a, s->exec_timeout_ms);
    duro_argv_pushll(a, s->wft_timeout_ms);
}

/* push_vis: a start's memo and search attributes, when it has any (or
 * what follows them), then the run timeout (0: none) when it has one or a
 * priority follows. */
static void push_vis(duro_argv *a, const duro_fcall_start_args *s, bool prio)
{
    duro_argv_push(a, s->memo ? s->memo : "");
    duro_argv_push(a, s->search_attrs ? s->search_attrs : "");
    if (s->run_timeout_ms > 0 || prio)
        duro_argv_pushll(a, s->run_timeout_ms > 0 ? s->run_timeout_ms : 0);
}

/* push_flow: a start's priority ("" for the default), then its fairness
 * key and weight when it has a key. */
static void push_flow(duro_argv *a, const duro_fcall_start_args *s)
{
    if (s->priority != 0)
        duro_argv_pushll(a, s->priority);
    else
        duro_argv_push(a, "");
    if (!s->fairness_key) return;
    duro_argv_push(a, s->fairness_key);
    duro_argv_pushll(a, s->fairness_weight > 0 ? s->fairness_weight : 1);
}

/* FCALL duro_start 8|9 wf hist buf wft timers pa idx_open idx_closed
 *       [hist_cur]  id run type queue input started_data exec_timeout_ms
 *       wft_timeout_ms [policy [cur_run [retention_ms [memo
 *       [search_attrs [run_timeout_ms [priority [fairness_key
 *       fairness_weight]]]]]]]] */
void duro_fcall_start(duro_argv *a, const duro_wf_keys *k,
                      const duro_fcall_start_args *s, const char *hist_cur,
                      const char *cur_run)
{
    duro_assert((hist_cur == NULL) == (cur_run == NULL));
    duro_assert(!cur_run || s->policy);
    begin(a, "duro_start", k, DURO_FCALL_START_KEYS, 0, hist_cur ? 1 : 0,
          &hist_cur);
    push_start(a, s);
    /* the default priority sends nothing: the call stays as it was */
    bool fair = s->fairness_key != NULL;
    bool prio =
        fair || (s->priority != 0 && s->priority != DURO_PRIORITY_DEFAULT);
    bool vis = s->memo || s->search_attrs || s->run_timeout_ms > 0 || prio;
    bool tail = vis || s->retention_ms > 0;
    if (s->policy || cur_run || tail)
        duro_argv_push(a, s->policy ? s->policy : "AllowDuplicate");
    if (cur_run || tail) duro_argv_push(a, cur_run ? cur_run : "");
    if (tail) duro_argv_pushll(a, s->retention_ms);
    if (vis) push_vis(a, s, prio);
    if (prio) push_flow(a, s);
}

/* FCALL duro_signal_with_start 9 wf hist buf wft timers pa idx_open
 *       idx_closed hist_cur  id run type queue input started_data
 *       exec_timeout_ms wft_timeout_ms signal_data cur_run
 *       [policy [retention_ms [memo [search_attrs [run_timeout_ms
 *       [priority [fairness_key fairness_weight]]]]]]] */
void duro_fcall_signal_with_start(duro_argv *a, const duro_wf_keys *k,
                                  const duro_fcall_start_args *s,
                                  const char *signal_data, const char *hist_cur,
                                  const char *cur_run)
{
    begin(a, "duro_signal_with_start", k, DURO_FCALL_SIGNAL_WITH_START_KEYS, 0,
          1, &hist_cur);
    push_start(a, s);
    duro_argv_push(a, signal_data);
    duro_argv_push(a, cur_run ? cur_run : "");
    bool fair = s->fairness_key != NULL;
    bool prio =
        fair || (s->priority != 0 && s->priority != DURO_PRIORITY_DEFAULT);
    bool vis = s->memo || s->search_attrs || s->run_timeout_ms > 0 || prio;
    bool tail = vis || s->retention_ms > 0;
    if (s->policy || tail)
        duro_argv_push(a, s->policy ? s->policy : "AllowDuplicate");
    if (tail) duro_argv_pushll(a, s->retention_ms);
    if (vis) push_vis(a, s, prio);
    if (prio) push_flow(a, s);
}

/* FCALL duro_signal 4 wf hist buf wft  run signal_data */
void duro_fcall_signal(duro_argv *a, const duro_wf_keys *k, const char *run,
                       const char *signal_data)
{
    begin(a, "duro_signal", k, DURO_FCALL_SIGNAL_KEYS, 0, 0, NULL);
    duro_argv_push(a, run);
    duro_argv_push(a, signal_data);
}

/* FCALL duro_cancel 4 wf hist buf wft  run data */
void duro_fcall_cancel(duro_argv *a, const duro_wf_keys *k, const char *run,
                       const char *data)
{
    begin(a, "duro_cancel", k, DURO_FCALL_CANCEL_KEYS, 0, 0, NULL);
    duro_argv_push(a, run);
    duro_argv_push(a, data);
}

/* FCALL duro_update 4 wf hist buf wft  run update_id data reply_key */
void duro_fcall_update(duro_argv *a, const duro_wf_keys *k, const char *run,
                       const char *update_id, const char *data,
                       const char *reply_key)
{
    begin(a, "duro_update", k, DURO_FCALL_UPDATE_KEYS, 0, 0, NULL);
    duro_argv_push(a, run);
    duro_argv_push(a, update_id);
    duro_argv_push(a, data);
    duro_argv_push(a, reply_key);
}

/* FCALL duro_terminate 8 wf hist buf wft timers pa idx_open idx_closed
 *       data   (wft unused) */
void duro_fcall_terminate(duro_argv *a, const duro_wf_keys *k, const char *data)
{
    begin(a, "duro_terminate", k, DURO_FCALL_TERMINATE_KEYS, BIT(K_WFT), 0,
          NULL);
    duro_argv_push(a, data);
}

/* FCALL duro_reset 10+A+C wf hist buf wft timers pa idx_open idx_closed
 *       hist_cur hist_src act_1..act_A chain_1..chain_C  id run src_run
 *       cur_run event_id reason type queue input exec_timeout_ms
 *       wft_timeout_ms npend pending... run_timeout_ms C */
void duro_fcall_reset(duro_argv *a, const duro_wf_keys *k,
                      const duro_fcall_reset_args *r)
{
    int nextra = 2 + r->nacts + r->nchain;
    const char **extra = malloc((size_t)nextra * sizeof(*extra));
    duro_assert(extra);
    extra[0] = r->hist_cur;
    extra[1] = r->hist_src;
    for (int i = 0; i < r->nacts; i++)
        extra[2 + i] = r->acts[i];
    for (int i = 0; i < r->nchain; i++)
        extra[2 + r->nacts + i] = r->chain[i];
    begin(a, "duro_reset", k, DURO_FCALL_RESET_KEYS, 0, nextra, extra);
    free(extra);
    duro_argv_push(a, r->id);
    duro_argv_push(a, r->run);
    duro_argv_push(a, r->src_run);
    duro_argv_push(a, r->cur_run ? r->cur_run : "");
    duro_argv_pushll(a, r->event_id);
    duro_argv_push(a, r->reason ? r->reason : "");
    duro_argv_push(a, r->type);
    duro_argv_push(a, r->queue);
    duro_argv_push(a, r->input ? r->input : "null");
    duro_argv_pushll(a, r->exec_timeout_ms);
    duro_argv_pushll(a, r->wft_timeout_ms);
    duro_argv_pushll(a, r->npend);
    for (int i = 0; r->pending && i < r->pending->argc; i++)
        duro_argv_pushn(a, r->pending->argv[i], r->pending->lens[i]);
    duro_argv_pushll(a, r->run_timeout_ms);
    duro_argv_pushll(a, r->nchain);
}

/* FCALL duro_history_upgrade 2 wf hist  (wf unused) */
void duro_fcall_history_upgrade(duro_argv *a, const duro_wf_keys *k)
{
    begin(a, "duro_history_upgrade", k, DURO_FCALL_HISTORY_UPGRADE_KEYS,
          BIT(K_WF), 0, NULL);
}

/* FCALL duro_purge 8 wf hist buf wft timers pa idx_open idx_closed
 *       run cutoff_ms */
void duro_fcall_purge(duro_argv *a, const duro_wf_keys *k, const char *run,
                      long long cutoff_ms)
{
    begin(a, "duro_purge", k, DURO_FCALL_PURGE_KEYS, BIT(K_WFT), 0, NULL);
    duro_argv_push(a, run);
    duro_argv_pushll(a, cutoff_ms);
}

/* ---- Workflow tasks (worker, scheduler) ---- */

static void push_task(duro_argv *a, const duro_fcall_task *t)
{
    duro_argv_push(a, t->run);
    duro_argv_push(a, t->token);
    duro_argv_push(a, t->entry);
}

/* FCALL duro_wft_complete 8+A wf hist buf wft timers pa idx_open
 *       idx_closed act_1..act_A  run token entry wtc_data ncmd cmd...
 *       [sticky_worker sticky_ms [eager_consumer -eager_n key_index...]] */
void duro_fcall_wft_complete(duro_argv *a, const duro_wf_keys *k,
                             const duro_fcall_task *t,
                             const duro_fcall_commit *c)
{
    begin(a, "duro_wft_complete", k, DURO_FCALL_WFT_COMPLETE_KEYS, 0, c->nacts,
          c->acts);
    push_task(a, t);
    push_commit(a, c, DURO_FCALL_WFT_COMPLETE_ACT_BASE);
}

/* FCALL duro_wft_fail 5 wf hist buf wft timers  run token entry message
 *       backoff_ms */
void duro_fcall_wft_fail(duro_argv *a, const duro_wf_keys *k,
                         const duro_fcall_task *t, const char *message,
                         long long backoff_ms)
{
    begin(a, "duro_wft_fail", k, DURO_FCALL_WFT_FAIL_KEYS, 0, 0, NULL);
    push_task(a, t);
    duro_argv_push(a, message);
    duro_argv_pushll(a, backoff_ms);
}

/* FCALL duro_wft_timeout 5 wf hist buf wft timers  run token entry idle_ms
 *       (hist and buf unused) */
void duro_fcall_wft_timeout(duro_argv *a, const duro_wf_keys *k,
                            const duro_fcall_task *t, long long idle_ms)
{
    begin(a, "duro_wft_timeout", k, DURO_FCALL_WFT_TIMEOUT_KEYS,
          BIT(K_HIST) | BIT(K_BUF), 0, NULL);
    push_task(a, t);
    duro_argv_pushll(a, idle_ms);
}

/* FCALL duro_sticky_release 5 wf hist buf wft timers  run worker
 *       (hist and buf unused) */
void duro_fcall_sticky_release(duro_argv *a, const duro_wf_keys *k,
                               const char *run, const char *worker)
{
    begin(a, "duro_sticky_release", k, DURO_FCALL_STICKY_RELEASE_KEYS,
          BIT(K_HIST) | BIT(K_BUF), 0, NULL);
    duro_argv_push(a, run);
    duro_argv_push(a, worker);
}

/* ---- Activities (worker, scheduler) ---- */

static void push_attempt(duro_argv *a, const duro_fcall_attempt *at)
{
    duro_argv_push(a, at->run);
    duro_argv_push(a, at->seq);
    duro_argv_pushll(a, at->attempt);
}

/* FCALL duro_act_complete 9+A wf hist buf wft timers pa idx_open idx_closed
 *       act act_1..act_A  run seq attempt entry outcome data retry_delay_ms
 *       failure [expected_hlen wtc_data ncmd cmd... [sticky_worker
 *       sticky_ms [eager_consumer -eager_n key_index...]]] */
void duro_fcall_act_complete(duro_argv *a, const duro_wf_keys *k,
                             const duro_fcall_attempt *at,
                             const duro_fcall_act_result *r,
                             long long expected_hlen,
                             const duro_fcall_commit *eager)
{
    begin(a, "duro_act_complete", k, DURO_FCALL_ACT_COMPLETE_KEYS, 0,
          eager ? eager->nacts : 0, eager ? eager->acts : NULL);
    push_attempt(a, at);
    duro_argv_push(a, at->entry);
    duro_argv_push(a, r->failed ? "failed" : "completed");
    duro_argv_push(a, r->data);
    duro_argv_pushll(a, r->retry_delay_ms);
    duro_argv_push(a, r->failure ? r->failure : "");
    if (eager) {
        duro_argv_pushll(a, expected_hlen);
        push_commit(a, eager, DURO_FCALL_ACT_COMPLETE_ACT_BASE);
    }
}

/* FCALL duro_act_heartbeat 6 wf hist buf wft timers pa  run seq attempt
 *       details   (hist, buf, wft and timers unused) */
void duro_fcall_act_heartbeat(duro_argv *a, const duro_wf_keys *k,
                              const duro_fcall_attempt *at, const char *details)
{
    begin(a, "duro_act_heartbeat", k, DURO_FCALL_ACT_HEARTBEAT_KEYS,
          BIT(K_HIST) | BIT(K_BUF) | BIT(K_WFT), 0, NULL);
    push_attempt(a, at);
    duro_argv_push(a, details ? details : "");
}

/* FCALL duro_act_release 9 wf hist buf wft timers pa idx_open idx_closed
 *       act  run seq attempt entry   (idx_open, idx_closed unused) */
void duro_fcall_act_release(duro_argv *a, const duro_wf_keys *k,
                            const duro_fcall_attempt *at)
{
    begin(a, "duro_act_release", k, DURO_FCALL_ACT_RELEASE_KEYS, 0, 0, NULL);
    push_attempt(a, at);
    duro_argv_push(a, at->entry);
}

/* FCALL duro_act_timeout 9 wf hist buf wft timers pa idx_open idx_closed
 *       act  run seq attempt entry idle_ms retry_delay_ms */
void duro_fcall_act_timeout(duro_argv *a, const duro_wf_keys *k,
                            const duro_fcall_attempt *at, long long idle_ms,
                            long long retry_delay_ms)
{
    begin(a, "duro_act_timeout", k, DURO_FCALL_ACT_TIMEOUT_KEYS, 0, 0, NULL);
    push_attempt(a, at);
    duro_argv_push(a, at->entry);
    duro_argv_pushll(a, idle_ms);
    duro_argv_pushll(a, retry_delay_ms);
}

/* ---- Timers (scheduler) ---- */

/* FCALL duro_timer_fire 9 wf hist buf wft timers pa idx_open idx_closed act
 *       member   (act: the member's activity stream for r and s timers,
 *       unused otherwise) */
void duro_fcall_timer_fire(duro_argv *a, const duro_wf_keys *k,
                           const char *member, size_t len)
{
    begin(a, "duro_timer_fire", k, DURO_FCALL_TIMER_FIRE_KEYS, BIT(K_ACT), 0,
          NULL);
    duro_argv_pushn(a, member, len);
}
