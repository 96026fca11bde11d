/* test_partread.c: the bookkeeping of the reads per partition
 * (worker/src/partread.c) and what a wake message makes due (wake.c),
 * without Redis: the worker has no connection, so nothing is sent. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "worker_internal.h"

TestSuite(partread, .timeout = 10);

static duro_worker *new_worker(int partitions)
{
    duro_worker *w = calloc(1, sizeof(*w));
    cr_assert(w);
    w->partitions = partitions;
    w->task_queue = "food";
    w->identity = "me";
    cr_assert_eq(duro__pread_init(w, &w->wft_pr), 0);
    cr_assert_eq(duro__pread_init(w, &w->act_pr), 0);
    /* a fresh state reads every partition: nothing due now */
    for (int p = 0; p < partitions; p++)
        w->wft_pr.due[p] = w->act_pr.due[p] = false;
    w->wft_pr.ndue = w->act_pr.ndue = 0;
    return w;
}

static void free_worker(duro_worker *w)
{
    duro__pread_free(&w->wft_pr);
    duro__pread_free(&w->act_pr);
    free(w);
}

static void wake(duro_worker *w, int p, const char *payload)
{
    duro__wake_message(w, p, payload, strlen(payload));
}

Test(partread, init_makes_every_partition_due)
{
    duro_worker w = {.partitions = 4};
    cr_assert_eq(duro__pread_init(&w, &w.wft_pr), 0);
    cr_assert_eq(w.wft_pr.ndue, 4);
    for (int p = 0; p < 4; p++)
        cr_assert(w.wft_pr.due[p]);
    duro__pread_free(&w.wft_pr);
}

Test(partread, a_wake_makes_its_partition_and_kind_due)
{
    duro_worker *w = new_worker(8);
    wake(w, 3, "wft:food");
    cr_assert(w->wft_pr.due[3]);
    cr_assert_eq(w->wft_pr.ndue, 1);
    cr_assert_eq(w->act_pr.ndue, 0);
    wake(w, 3, "wft:food"); /* twice: still one */
    cr_assert_eq(w->wft_pr.ndue, 1);
    wake(w, 5, "act:food!1");
    cr_assert(w->act_pr.due[5]);
    wake(w, 6, "act:food~tenant-a");
    cr_assert(w->act_pr.due[6]);
    wake(w, 1, "qry:food"); /* queries ride the workflow-task reads */
    cr_assert(w->wft_pr.due[1]);
    wake(w, 2, "wft:food#me"); /* this worker's sticky stream */
    cr_assert(w->wft_pr.due[2]);
    cr_assert_eq(w->wft_pr.ndue, 3);
    cr_assert_eq(w->act_pr.ndue, 2);
    cr_assert_eq(w->wft_pr.wakes + w->act_pr.wakes, 6);
    free_worker(w);
}

Test(partread, a_wake_for_someone_else_is_ignored)
{
    duro_worker *w = new_worker(8);
    static const char *const others[] = {
        "wft:foo",       /* another queue, a prefix of ours */
        "wft:foods",     /* another queue that ours prefixes */
        "act:other!2",   /* another queue's level */
        "wft:food#mine", /* another worker's sticky stream */
        "wft:food#m",    /* one whose name prefixes ours */
        "timers:food",   /* not a task kind */
        "wftfood",       /* no kind */
        "",
    };
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
        wake(w, 0, others[i]);
    wake(w, -1, "wft:food"); /* no partition in the channel */
    wake(w, 8, "wft:food");  /* past the last */
    cr_assert_eq(w->wft_pr.ndue, 0);
    cr_assert_eq(w->act_pr.ndue, 0);
    free_worker(w);
}

Test(partread, the_sweep_makes_every_partition_due_once_a_second)
{
    duro_worker *w = new_worker(4);
    w->wft_pr.sweep_ms = INT64_MAX;
    cr_assert_not(duro__pread_tick(&w->wft_pr));
    cr_assert_eq(w->wft_pr.ndue, 0);
    w->wft_pr.sweep_ms = 0; /* due */
    cr_assert(duro__pread_tick(&w->wft_pr));
    cr_assert_eq(w->wft_pr.ndue, 4);
    /* the next one a sweep period later */
    cr_assert_gt(w->wft_pr.sweep_ms, 0);
    cr_assert_not(duro__pread_tick(&w->wft_pr));
    free_worker(w);
}

Test(partread, nothing_is_sent_without_a_connection)
{
    duro_worker *w = new_worker(4);
    duro__pread_all_due(&w->wft_pr);
    static const int kinds[] = {DURO_STREAM_WFT};
    cr_assert_eq(duro__pread_send(&w->wft_pr, NULL, kinds, 1, 10), 0);
    cr_assert_eq(w->wft_pr.ndue, 4, "still due for the next round");
    free_worker(w);
}
