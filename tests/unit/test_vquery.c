/* test_vquery.c: the list filter's parser (every operator, precedence,
 * errors with their column) and its compiler (fields, literal types,
 * narrowing, RFC 3339 times). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/errno.h"
#include "duro/vquery.h"

TestSuite(vquery, .timeout = 5);

static duro_vq *parse_ok(const char *text)
{
    duro_vq *q = NULL;
    char err[256];
    int rc = duro_vq_parse(text, &q, err, sizeof(err));
    cr_assert_eq(rc, 0, "parse \"%s\": %s", text, err);
    return q;
}

static void parse_bad(const char *text, const char *want)
{
    duro_vq *q = NULL;
    char err[256];
    cr_assert_eq(duro_vq_parse(text, &q, err, sizeof(err)), DURO_EINVAL,
                 "\"%s\" accepted", text);
    cr_assert_null(q);
    cr_assert(strstr(err, want), "\"%s\": got \"%s\", want \"%s\"", text, err,
              want);
}

static const char *types(const char *name, void *arg)
{
    (void)arg;
    static const char *const T[][2] = {
        {"OrderState", "Keyword"}, {"Notes", "Text"}, {"Amount", "Int"},
        {"Score", "Double"},       {"Vip", "Bool"},   {"DueAt", "Datetime"},
        {"Tags", "KeywordList"}};
    for (size_t i = 0; i < sizeof(T) / sizeof(*T); i++)
        if (strcmp(name, T[i][0]) == 0) return T[i][1];
    return NULL;
}

/* compiled renders a query's filter as JSON text (caller frees). */
static char *compiled(const char *text, duro_vq_compiled *out)
{
    duro_vq *q = parse_ok(text);
    char err[256];
    int rc = duro_vq_compile(q, types, NULL, out, err, sizeof(err));
    duro_vq_free(q);
    cr_assert_eq(rc, 0, "compile \"%s\": %s", text, err);
    return out->filter ? cJSON_PrintUnformatted(out->filter) : strdup("null");
}

static void compile_bad(const char *text, const char *want)
{
    duro_vq *q = parse_ok(text);
    duro_vq_compiled out;
    char err[256];
    int rc = duro_vq_compile(q, types, NULL, &out, err, sizeof(err));
    duro_vq_free(q);
    cr_assert_eq(rc, DURO_EINVAL, "\"%s\" compiled", text);
    cr_assert(strstr(err, want), "\"%s\": got \"%s\", want \"%s\"", text, err,
              want);
}

static void expect_filter(const char *text, const char *want)
{
    duro_vq_compiled c;
    char *got = compiled(text, &c);
    cr_assert_str_eq(got, want, "\"%s\"", text);
    free(got);
    duro_vq_compiled_free(&c);
}

Test(vquery, every_comparison_operator)
{
    const char *ops[][2] = {{"=", "="},  {"!=", "!="}, {"<>", "!="},
                            {">", ">"},  {">=", ">="}, {"<", "<"},
                            {"<=", "<="}};
    for (size_t i = 0; i < sizeof(ops) / sizeof(*ops); i++) {
        char text[64], want[128];
        snprintf(text, sizeof(text), "Amount %s 5", ops[i][0]);
        snprintf(want, sizeof(want),
                 "{\"o\":\"%s\",\"f\":\"a:Amount\",\"t\":\"I\",\"v\":[5]}",
                 ops[i][1]);
        expect_filter(text, want);
    }
}

Test(vquery, in_starts_with_between_null)
{
    expect_filter("WorkflowId IN ('a', 'b''c')",
                  "{\"o\":\"in\",\"f\":\"id\",\"t\":\"K\",\"v\":[\"a\","
                  "\"b'c\"]}");
    expect_filter("WorkflowId IN (\"a\", \"b\"\"c'\")",
                  "{\"o\":\"in\",\"f\":\"id\",\"t\":\"K\",\"v\":[\"a\","
                  "\"b\\\"c'\"]}");
    expect_filter("WorkflowId NOT IN ('a')",
                  "{\"o\":\"notin\",\"f\":\"id\",\"t\":\"K\",\"v\":[\"a\"]}");
    expect_filter("WorkflowId starts_with 'ord-'",
                  "{\"o\":\"sw\",\"f\":\"id\",\"t\":\"K\",\"v\":[\"ord-\"]}");
    expect_filter("Score BETWEEN 1.5 AND 2",
                  "{\"o\":\"between\",\"f\":\"a:Score\",\"t\":\"D\",\"v\":["
                  "1.5,2]}");
    expect_filter("CloseTime IS NULL",
                  "{\"o\":\"null\",\"f\":\"close\",\"t\":\"d\",\"v\":[]}");
    expect_filter("OrderState is not null",
                  "{\"o\":\"notnull\",\"f\":\"a:OrderState\",\"t\":\"K\","
                  "\"v\":[]}");
    expect_filter("Vip = true",
                  "{\"o\":\"=\",\"f\":\"a:Vip\",\"t\":\"B\",\"v\":[true]}");
}

Test(vquery, and_binds_tighter_than_or)
{
    duro_vq *q = parse_ok("RunId = 'a' OR RunId = 'b' AND TaskQueue = 'c'");
    cr_assert_eq(q->where->kind, DURO_VQ_OR);
    cr_assert_eq(q->where->l->kind, DURO_VQ_CMP);
    cr_assert_eq(q->where->r->kind, DURO_VQ_AND);
    duro_vq_free(q);
    q = parse_ok("(RunId = 'a' OR RunId = 'b') AND TaskQueue = 'c'");
    cr_assert_eq(q->where->kind, DURO_VQ_AND);
    cr_assert_eq(q->where->l->kind, DURO_VQ_OR);
    duro_vq_free(q);
    q = parse_ok("RunId = 'a' AND RunId = 'b' AND RunId = 'c'");
    cr_assert_eq(q->where->kind, DURO_VQ_AND);
    cr_assert_eq(q->where->l->kind, DURO_VQ_AND); /* left-associative */
    duro_vq_free(q);
}

Test(vquery, order_by)
{
    duro_vq *q = parse_ok("ORDER BY CloseTime ASC");
    cr_assert_null(q->where);
    cr_assert_str_eq(q->order_field, "CloseTime");
    cr_assert(!q->desc);
    duro_vq_free(q);
    q = parse_ok("WorkflowType = 'x' order by starttime");
    cr_assert_str_eq(q->order_field, "StartTime");
    cr_assert(q->desc);
    duro_vq_free(q);
    q = parse_ok("");
    cr_assert_null(q->where);
    cr_assert_str_eq(q->order_field, "");
    duro_vq_free(q);
}

Test(vquery, errors_name_the_column)
{
    parse_bad("WorkflowId =", "column 13: expected a literal");
    parse_bad("WorkflowId = 'a' AND", "column 21: expected a field name");
    parse_bad("WorkflowId ~ 'a'", "column 12: expected an operator");
    parse_bad("(WorkflowId = 'a'", "column 18: expected ')'");
    parse_bad("WorkflowId = 'abc", "column 14: unterminated string");
    parse_bad("WorkflowId = \"abc'", "column 14: unterminated string");
    parse_bad("WorkflowId IN 'a'", "column 15: expected '(' after IN");
    parse_bad("WorkflowId IN ('a' 'b')", "column 20: expected ',' or ')'");
    parse_bad("Score BETWEEN 1 2", "column 17: expected AND in BETWEEN");
    parse_bad("CloseTime IS NOT 3", "column 18: expected NULL");
    parse_bad("WorkflowId = 'a' 'b'", "column 18: expected AND, OR, ORDER BY");
    parse_bad("ORDER StartTime", "column 7: expected BY after ORDER");
    parse_bad("ORDER BY WorkflowId", "column 10: expected StartTime or");
    parse_bad("ORDER BY StartTime DESC x", "column 25: expected the end");
    parse_bad("AND = 1", "column 1: expected a field name");
    parse_bad("x = 12abc", "column 5: expected a literal");
}

Test(vquery, compile_checks_fields_and_types)
{
    compile_bad("Nope = 'x'", "column 1: unknown field Nope");
    compile_bad("Amount = 'x'", "column 10: expected an integer");
    compile_bad("Amount = 1.5", "column 10: expected an integer");
    compile_bad("WorkflowId = 3", "column 14: expected a 'quoted string'");
    compile_bad("StartTime > 'yesterday'", "column 13: expected an RFC 3339");
    compile_bad("Vip > true", "column 1: Vip does not take > (a Bool)");
    compile_bad("Amount STARTS_WITH 1", "does not take STARTS_WITH");
    compile_bad("ExecutionStatus = 'Sleeping'", "unknown ExecutionStatus");
    /* the list names every status a query takes */
    compile_bad("ExecutionStatus = 'Sleeping'",
                "Terminated, TimedOut, ContinuedAsNew)");
    compile_bad("WorkflowId = 'a' OR Nope = 1", "column 21: unknown field");
}

Test(vquery, statuses_and_times_normalise)
{
    expect_filter("ExecutionStatus = 'Running'",
                  "{\"o\":\"=\",\"f\":\"status\",\"t\":\"K\",\"v\":["
                  "\"RUNNING\"]}");
    expect_filter("ExecutionStatus = 'TimedOut'",
                  "{\"o\":\"=\",\"f\":\"status\",\"t\":\"K\",\"v\":["
                  "\"TIMED_OUT\"]}");
    expect_filter("StartTime >= '1970-01-01T00:00:01.5+00:00'",
                  "{\"o\":\">=\",\"f\":\"start\",\"t\":\"d\",\"v\":[1500]}");
}

Test(vquery, narrowing_prefers_keyword_then_type_then_status)
{
    duro_vq_compiled c;
    free(compiled("ExecutionStatus='Completed' AND WorkflowType='order' AND "
                  "OrderState='Paid'",
                  &c));
    cr_assert_str_eq(c.narrow_kind, "kw:OrderState");
    cr_assert_str_eq(c.narrow_value, "Paid");
    cr_assert(!c.only_narrow);
    duro_vq_compiled_free(&c);
    free(compiled("WorkflowType='order' ORDER BY StartTime ASC", &c));
    cr_assert_str_eq(c.narrow_kind, "type");
    cr_assert(c.only_narrow);
    cr_assert(!c.desc);
    duro_vq_compiled_free(&c);
    free(compiled("WorkflowType='a' OR ExecutionStatus='Running'", &c));
    cr_assert_str_eq(c.narrow_kind, "");
    duro_vq_compiled_free(&c);
}

Test(vquery, bounds_on_the_order_field_come_from_the_conjunction)
{
    duro_vq_compiled c;
    free(compiled("StartTime > '1970-01-01T00:00:01Z' AND WorkflowId = 'x' "
                  "AND StartTime <= '1970-01-01T00:00:09Z'",
                  &c));
    cr_assert(c.has_min && c.has_max);
    cr_assert_eq(c.min_ms, 1001);
    cr_assert_eq(c.max_ms, 9000);
    duro_vq_compiled_free(&c);
    free(
        compiled("StartTime > '1970-01-01T00:00:01Z' OR WorkflowId = 'x'", &c));
    cr_assert(!c.has_min && !c.has_max);
    duro_vq_compiled_free(&c);
    /* a bound on the other time field does not bound the scan */
    free(compiled("CloseTime < '1970-01-01T00:00:01Z'", &c));
    cr_assert(!c.has_min && !c.has_max);
    duro_vq_compiled_free(&c);
    free(compiled("CloseTime BETWEEN '1970-01-01T00:00:01Z' AND "
                  "'1970-01-01T00:00:02Z' ORDER BY CloseTime",
                  &c));
    cr_assert_str_eq(c.order, "close");
    cr_assert(c.has_min && c.has_max);
    cr_assert_eq(c.min_ms, 1000);
    cr_assert_eq(c.max_ms, 2000);
    duro_vq_compiled_free(&c);
}

Test(vquery, rfc3339)
{
    int64_t ms;
    cr_assert_eq(duro_vq_time_parse("2026-11-27T12:00:00Z", &ms), 0);
    cr_assert_eq(ms, 1795780800000LL);
    cr_assert_eq(duro_vq_time_parse("2026-11-27T13:00:00.250+01:00", &ms), 0);
    cr_assert_eq(ms, 1795780800250LL);
    cr_assert_eq(duro_vq_time_parse("2026-11-27 12:00:00z", &ms), 0);
    cr_assert_eq(duro_vq_time_parse("2026-11-27T12:00:00", &ms), DURO_EINVAL);
    cr_assert_eq(duro_vq_time_parse("2026-13-27T12:00:00Z", &ms), DURO_EINVAL);
    cr_assert_eq(duro_vq_time_parse("2026-11-27T12:00:00Zx", &ms), DURO_EINVAL);
}

/* depth: how deep the and/or nodes of a compiled filter nest. */
static int depth(const cJSON *f)
{
    const cJSON *a = cJSON_GetObjectItem(f, "a");
    if (!a) return 0;
    int l = depth(cJSON_GetArrayItem(a, 0)),
        r = depth(cJSON_GetArrayItem(a, 1));
    return 1 + (l > r ? l : r);
}

Test(vquery, a_chain_compiles_balanced_in_order)
{
    /* a AND b AND c AND d: two levels, the operands left to right */
    expect_filter("WorkflowId='a' AND WorkflowId='b' AND WorkflowId='c' AND "
                  "WorkflowId='d'",
                  "{\"o\":\"and\",\"a\":[{\"o\":\"and\",\"a\":["
                  "{\"o\":\"=\",\"f\":\"id\",\"t\":\"K\",\"v\":[\"a\"]},"
                  "{\"o\":\"=\",\"f\":\"id\",\"t\":\"K\",\"v\":[\"b\"]}]},"
                  "{\"o\":\"and\",\"a\":["
                  "{\"o\":\"=\",\"f\":\"id\",\"t\":\"K\",\"v\":[\"c\"]},"
                  "{\"o\":\"=\",\"f\":\"id\",\"t\":\"K\",\"v\":[\"d\"]}]}]}");
    size_t size = (size_t)32 * DURO_VQ_MAX_TERMS;
    char *text = malloc(size), *e = text;
    cr_assert_not_null(text);
    for (int i = 0; i < DURO_VQ_MAX_TERMS; i++)
        e += snprintf(e, size - (size_t)(e - text), "%sWorkflowId='%d'",
                      i ? (i % 3 ? " OR " : " AND ") : "", i);
    duro_vq_compiled c;
    free(compiled(text, &c));
    cr_assert_leq(depth(c.filter), 2 * 11, "depth %d", depth(c.filter));
    cr_assert_eq(c.terms, DURO_VQ_MAX_TERMS);
    duro_vq_compiled_free(&c);
    free(text);
}

Test(vquery, terms_count_values_and_null_tests)
{
    duro_vq_compiled c;
    free(compiled("WorkflowId IN ('a','b','c') OR (Amount BETWEEN 1 AND 2 "
                  "AND Vip IS NOT NULL)",
                  &c));
    cr_assert_eq(c.terms, 6);
    duro_vq_compiled_free(&c);
    char *text = malloc((size_t)16 * DURO_VQ_MAX_TERMS), *e = text;
    cr_assert_not_null(text);
    e += sprintf(e, "WorkflowId IN ('0'");
    for (int i = 1; i < DURO_VQ_MAX_TERMS; i++)
        e += sprintf(e, ",'%d'", i);
    sprintf(e, ")");
    duro_vq_free(parse_ok(text));
    sprintf(e, ") OR Vip IS NULL");
    parse_bad(text, "a filter takes at most 1024 values and conditions");
    free(text);
}
