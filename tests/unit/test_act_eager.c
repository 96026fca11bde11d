/* test_act_eager.c: the tasks a commit's reply took (eager activity
 * dispatch), read back from the reply's flat tail into the XREADGROUP
 * reply the worker's intake reads (act_eager.c); replies built by hand
 * as Redis sends them (tests/integration/test_eager.c checks that shape
 * against a real Function); no Redis. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "duro/errno.h"
#include "worker_internal.h"

TestSuite(act_eager, .timeout = 5);

/* ---- Building replies ---- */

#define MAXR 128

/* pool: the replies of one test, freed at its end */
static redisReply pool[MAXR];
static redisReply *elems[MAXR][24];
static int used;

static redisReply *node(int type)
{
    cr_assert_lt(used, MAXR);
    redisReply *r = &pool[used++];
    memset(r, 0, sizeof(*r));
    r->type = type;
    return r;
}

static redisReply *s(const char *str)
{
    redisReply *r = node(REDIS_REPLY_STRING);
    r->str = (char *)str;
    r->len = strlen(str);
    return r;
}

static redisReply *i(long long v)
{
    redisReply *r = node(REDIS_REPLY_INTEGER);
    r->integer = v;
    return r;
}

/* arr: an array of the n replies given */
static redisReply *arr(int n, ...)
{
    redisReply *r = node(REDIS_REPLY_ARRAY);
    r->element = elems[r - pool];
    va_list ap;
    va_start(ap, n);
    for (int k = 0; k < n; k++)
        r->element[k] = va_arg(ap, redisReply *);
    va_end(ap);
    r->elements = (size_t)n;
    return r;
}

static void reset(void)
{
    used = 0;
}

/* fields of activity seq */
static redisReply *fields(const char *seq)
{
    return arr(6, s("id"), s("wf-1"), s("seq"), s(seq), s("input"), s("0"));
}

/* field: the value of name in an entry's fields, or NULL */
static const char *field(const redisReply *f, const char *name)
{
    for (size_t k = 0; k + 1 < f->elements; k += 2)
        if (!strcmp(f->element[k]->str, name)) return f->element[k + 1]->str;
    return NULL;
}

/* ---- The flat tail ---- */

/* {last, hlen, stream, 2, id, {backlog's fields}, id, {own fields},
 *  stream2, 1, id, {fields}}: two streams, the first with a backlog entry
 * of another shape before this commit's own */
Test(act_eager, flat_tail_becomes_an_xreadgroup_reply, .fini = reset)
{
    redisReply *backlog =
        arr(8, s("id"), s("older"), s("seq"), s("7"), s("input"), s("42"),
            s("details"), s("{\"n\":1}"));
    redisReply *reply = arr(
        12, i(5), i(6), s("duro:{p1}:act:q"), i(2), s("1-1"), backlog, s("1-2"),
        fields("1"), s("duro:{p1}:act:q:1"), i(1), s("2-1"), fields("2"));
    const redisReply *got;
    void *owned;
    cr_assert_eq(duro__act_eager_entries(reply, 2, &got, &owned), 0);
    cr_assert_not_null(got);
    cr_assert_not_null(owned);
    cr_assert_eq(got->type, REDIS_REPLY_ARRAY);
    cr_assert_eq(got->elements, 2);
    const redisReply *s1 = got->element[0], *s2 = got->element[1];
    cr_assert_eq(s1->type, REDIS_REPLY_ARRAY);
    cr_assert_eq(s1->elements, 2);
    cr_assert_str_eq(s1->element[0]->str, "duro:{p1}:act:q");
    const redisReply *e1 = s1->element[1];
    cr_assert_eq(e1->type, REDIS_REPLY_ARRAY);
    cr_assert_eq(e1->elements, 2);
    /* the backlog entry, whole */
    const redisReply *b = e1->element[0];
    cr_assert_eq(b->type, REDIS_REPLY_ARRAY);
    cr_assert_eq(b->elements, 2);
    cr_assert_str_eq(b->element[0]->str, "1-1");
    cr_assert_eq(b->element[1], backlog);
    cr_assert_eq(b->element[1]->elements, 8);
    cr_assert_str_eq(field(b->element[1], "details"), "{\"n\":1}");
    cr_assert_str_eq(e1->element[1]->element[0]->str, "1-2");
    cr_assert_str_eq(field(e1->element[1]->element[1], "seq"), "1");
    cr_assert_str_eq(s2->element[0]->str, "duro:{p1}:act:q:1");
    cr_assert_eq(s2->element[1]->elements, 1);
    cr_assert_str_eq(s2->element[1]->element[0]->element[0]->str, "2-1");
    cr_assert_str_eq(field(s2->element[1]->element[0]->element[1], "seq"), "2");
    free(owned);
}

/* duro_act_complete's {'eager', last, hlen, ...}: the tail from 3 */
Test(act_eager, act_complete_tail_and_none_taken, .fini = reset)
{
    redisReply *reply = arr(7, s("eager"), i(5), i(6), s("duro:{p1}:act:q"),
                            i(1), s("3-1"), fields("3"));
    const redisReply *got;
    void *owned;
    cr_assert_eq(duro__act_eager_entries(reply, 3, &got, &owned), 0);
    cr_assert_eq(got->elements, 1);
    cr_assert_str_eq(got->element[0]->element[1]->element[0]->element[0]->str,
                     "3-1");
    free(owned);
    /* none taken: no tail */
    redisReply *none = arr(3, s("eager"), i(5), i(6));
    cr_assert_eq(duro__act_eager_entries(none, 3, &got, &owned), 0);
    cr_assert_null(got);
    cr_assert_null(owned);
    cr_assert_eq(duro__act_eager_entries(NULL, 3, &got, &owned), 0);
    cr_assert_null(got);
}

/* a library before 34: one XREADGROUP reply as the last element */
Test(act_eager, the_older_nested_tail_is_read_as_it_is, .fini = reset)
{
    redisReply *xr = arr(
        1, arr(2, s("duro:{p1}:act:q"), arr(1, arr(2, s("4-1"), fields("4")))));
    redisReply *reply = arr(3, i(5), i(6), xr);
    const redisReply *got;
    void *owned;
    cr_assert_eq(duro__act_eager_entries(reply, 2, &got, &owned), 0);
    cr_assert_eq(got, xr);
    cr_assert_null(owned);
    /* but not followed by anything */
    redisReply *more = arr(4, i(5), i(6), xr, s("x"));
    cr_assert_eq(duro__act_eager_entries(more, 2, &got, &owned), DURO_EPROTO);
    cr_assert_null(got);
}

/* garbage: an error, nothing handed out, no read past the reply */
Test(act_eager, a_malformed_tail_is_refused_whole, .fini = reset)
{
    redisReply *bad[] = {
        /* a count past the end */
        arr(6, i(5), i(6), s("st"), i(2), s("1-1"), fields("1")),
        /* a count with no entries at all */
        arr(4, i(5), i(6), s("st"), i(1)),
        /* a stream without its count */
        arr(3, i(5), i(6), s("st")),
        /* a negative count */
        arr(4, i(5), i(6), s("st"), i(-1)),
        /* the count as text */
        arr(6, i(5), i(6), s("st"), s("1"), s("1-1"), fields("1")),
        /* an id that is not a string */
        arr(6, i(5), i(6), s("st"), i(1), i(7), fields("1")),
        /* fields that are not an array */
        arr(6, i(5), i(6), s("st"), i(1), s("1-1"), s("f")),
        /* a good stream, then garbage: nothing of either */
        arr(8, i(5), i(6), s("st"), i(1), s("1-1"), fields("1"), s("st2"),
            i(9)),
        /* an integer where a stream goes */
        arr(5, i(5), i(6), i(3), i(0), s("x")),
        /* a count beyond any reply */
        arr(6, i(5), i(6), s("st"), i(1LL << 62), s("1-1"), fields("1")),
    };
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        const redisReply *got = (const redisReply *)1;
        void *owned = (void *)1;
        cr_assert_eq(duro__act_eager_entries(bad[k], 2, &got, &owned),
                     DURO_EPROTO, "case %zu", k);
        cr_assert_null(got, "case %zu", k);
        cr_assert_null(owned, "case %zu", k);
    }
    /* a stream whose count is 0 is well formed: nothing taken there */
    redisReply *zero = arr(4, i(5), i(6), s("st"), i(0));
    const redisReply *got;
    void *owned;
    cr_assert_eq(duro__act_eager_entries(zero, 2, &got, &owned), 0);
    cr_assert_eq(got->elements, 1);
    cr_assert_eq(got->element[0]->element[1]->elements, 0);
    free(owned);
}

/* ---- Handing them to the intake ---- */

static int intakes;
static const redisReply *intake_got;

static void intake(duro_worker *w, const redisReply *entries)
{
    (void)w;
    intakes++;
    intake_got = entries;
    /* the view lives while the intake runs: read it all */
    cr_assert_eq(entries->element[0]->element[1]->elements, 1);
    cr_assert_str_eq(
        entries->element[0]->element[1]->element[0]->element[0]->str, "5-1");
}

/* a good tail reaches the intake once; a malformed one never (its tasks
 * stay pending: nothing is handed back or run) */
Test(act_eager, only_a_well_formed_tail_reaches_the_intake, .fini = reset)
{
    intakes = 0;
    redisReply *good =
        arr(6, i(5), i(6), s("duro:{p1}:act:q"), i(1), s("5-1"), fields("5"));
    duro__act_eager_reply(NULL, good, 2, intake);
    cr_assert_eq(intakes, 1);
    cr_assert_not_null(intake_got);
    redisReply *bad =
        arr(6, i(5), i(6), s("duro:{p1}:act:q"), i(3), s("5-1"), fields("5"));
    duro__act_eager_reply(NULL, bad, 2, intake);
    redisReply *none = arr(2, i(5), i(6));
    duro__act_eager_reply(NULL, none, 2, intake);
    cr_assert_eq(intakes, 1);
}
