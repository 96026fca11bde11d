/* vquery.h: the visibility list filter, a subset of Temporal's.
 *
 *   query  := [expr] [ORDER BY (StartTime|CloseTime) [ASC|DESC]]
 *   expr   := and (OR and)*
 *   and    := pred (AND pred)*
 *   pred   := '(' expr ')'
 *           | field (= | != | <> | > | >= | < | <=) literal
 *           | field [NOT] IN '(' literal (',' literal)* ')'
 *           | field STARTS_WITH literal
 *           | field [NOT] BETWEEN literal AND literal
 *           | field IS [NOT] NULL
 *   literal:= 'string' ('' is a quote) | "string" ("" is a quote, as
 *              Temporal accepts both) | number | true | false
 *
 * Keywords are case-insensitive, field names are not. AND binds tighter
 * than OR. duro_vq_parse is pure: it checks the syntax only; which fields
 * exist and what type each literal must have is duro_vq_compile's, which
 * turns the tree into the filter the Redis Function duro_vis_scan
 * evaluates (docs/internals.md, "Visibility"). Errors name the column
 * (1-based) and what was expected: "column 14: expected a literal, got
 * ')'". */
#ifndef DURO_VQUERY_H
#define DURO_VQUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "duro/export.h"

typedef enum { DURO_VQ_AND, DURO_VQ_OR, DURO_VQ_CMP } duro_vq_kind;

typedef enum {
    DURO_VQ_EQ,
    DURO_VQ_NE,
    DURO_VQ_GT,
    DURO_VQ_GE,
    DURO_VQ_LT,
    DURO_VQ_LE,
    DURO_VQ_IN,
    DURO_VQ_NOT_IN,
    DURO_VQ_STARTS_WITH,
    DURO_VQ_BETWEEN,
    DURO_VQ_NOT_BETWEEN,
    DURO_VQ_IS_NULL,
    DURO_VQ_IS_NOT_NULL,
} duro_vq_op;

typedef enum { DURO_VQ_STR, DURO_VQ_NUM, DURO_VQ_BOOL } duro_vq_lit_type;

/* duro_vq_lit: a literal as written; col is where it starts. */
typedef struct {
    duro_vq_lit_type type;
    char *s;  /* DURO_VQ_STR: unescaped; DURO_VQ_NUM: the text */
    double n; /* DURO_VQ_NUM */
    bool b;   /* DURO_VQ_BOOL */
    int col;
} duro_vq_lit;

/* duro_vq_node: AND/OR with children l and r, or a comparison of field
 * (at column field_col) by op with nvals literals (0 for IS [NOT] NULL, 2
 * for BETWEEN, 1+ for IN, else 1). */
typedef struct duro_vq_node {
    duro_vq_kind kind;
    struct duro_vq_node *l, *r;
    char *field;
    int field_col;
    duro_vq_op op;
    duro_vq_lit *vals;
    int nvals;
} duro_vq_node;

/* duro_vq: a parsed query. where is NULL for an empty filter; order_field
 * is "" when the query has no ORDER BY. */
typedef struct {
    duro_vq_node *where;
    char order_field[16];
    bool desc;
} duro_vq;

/* DURO_VQ_MAX_TERMS: the most values (each literal, each of an IN list)
 * and IS [NOT] NULL conditions a filter may hold (Elasticsearch's default
 * max_clause_count, behind Temporal's visibility). */
#define DURO_VQ_MAX_TERMS 1024

/* duro_vq_parse parses text. Returns 0 and *out (free with duro_vq_free),
 * or DURO_EINVAL with "column N: expected ..." in err (also for more than
 * DURO_VQ_MAX_TERMS), or DURO_ENOMEM. */
DURO_EXPORT int duro_vq_parse(const char *text, duro_vq **out, char *err,
                              size_t errsize);
DURO_EXPORT void duro_vq_free(duro_vq *q);

/* duro_vq_op_name: "=", "IN", "STARTS_WITH", ... */
DURO_EXPORT const char *duro_vq_op_name(duro_vq_op op);

/* duro_vq_time_parse reads an RFC 3339 datetime ("2026-11-27T12:00:00Z",
 * "...T12:00:00.250+01:00"; a space may stand for the T) into ms since
 * the epoch. Returns 0 or DURO_EINVAL. */
DURO_EXPORT int duro_vq_time_parse(const char *s, int64_t *ms);

/* duro_vq_type_fn: the type of custom search attribute `name`
 * ("Keyword", "Int", ...), or NULL when it is not registered. */
typedef const char *(*duro_vq_type_fn)(const char *name, void *arg);

/* duro_vq_compiled: what a listing runs. filter is the JSON tree
 * duro_vis_scan evaluates (NULL: every row); order is "start" or
 * "close"; narrow_kind/narrow_value name an equality of the top-level
 * conjunction that an index answers (kind "status", "type" or "kw:<name>";
 * "" when none), and only_narrow says the filter is that equality alone.
 * has_min/has_max bound the order field (StartTime or CloseTime, ms,
 * inclusive) where the top-level conjunction does, so that a scan starts
 * and stops at the bounds. terms measures what the filter costs per row
 * (an IN of 5 values counts 5), so that a listing bounds the rows one
 * Redis call examines. */
typedef struct {
    cJSON *filter;
    char order[8];
    bool desc;
    char narrow_kind[80];
    char *narrow_value;
    bool only_narrow;
    bool has_min, has_max;
    int64_t min_ms, max_ms;
    int terms; /* the values and IS [NOT] NULL tests filter makes per row */
} duro_vq_compiled;

/* duro_vq_compile checks q's fields (the standard ones and the custom
 * attributes types names) and literal types, and builds out (release with
 * duro_vq_compiled_free). Returns 0, or DURO_EINVAL with "column N: ..." in
 * err (unknown field, a literal of the wrong type, an operator the field's
 * type does not take), or DURO_ENOMEM. */
DURO_EXPORT int duro_vq_compile(const duro_vq *q, duro_vq_type_fn types,
                                void *arg, duro_vq_compiled *out, char *err,
                                size_t errsize);
DURO_EXPORT void duro_vq_compiled_free(duro_vq_compiled *c);

#endif
