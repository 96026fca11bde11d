/* vquery.c: the list filter's lexer and recursive-descent parser
 * (grammar: duro/vquery.h). Every error names the column of the token
 * where the parse stopped and what would have been accepted there. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "duro/errno.h"
#include "duro/vquery.h"

typedef enum {
    T_EOF,
    T_IDENT,
    T_STRING,
    T_NUMBER,
    T_OP,
    T_LPAREN,
    T_RPAREN,
    T_COMMA,
    T_BAD
} tok_kind;

typedef struct {
    tok_kind kind;
    int col;           /* 1-based */
    const char *start; /* into the text */
    size_t len;
    char *str; /* T_STRING: unescaped (owned) */
} token;

typedef struct {
    const char *text;
    size_t pos;
    token tok; /* the current token */
    char *err;
    size_t errsize;
    int rc;
    int terms; /* values and IS [NOT] NULL conditions read so far */
} parser;

/* ---- Errors ---- */

static void tok_desc(const token *t, char *buf, size_t size)
{
    switch (t->kind) {
    case T_EOF:
        snprintf(buf, size, "the end of the query");
        break;
    case T_STRING:
        snprintf(buf, size, "a string");
        break;
    case T_BAD:
        snprintf(buf, size, "'%.*s'", (int)(t->len > 20 ? 20 : t->len),
                 t->start);
        break;
    default:
        snprintf(buf, size, "'%.*s'", (int)(t->len > 40 ? 40 : t->len),
                 t->start);
    }
}

/* expected fails the parse at the current token. */
static int expected(parser *p, const char *what)
{
    if (p->rc) return p->rc;
    char got[64];
    tok_desc(&p->tok, got, sizeof(got));
    if (p->tok.kind == T_BAD && p->tok.len &&
        (p->tok.start[0] == '\'' || p->tok.start[0] == '"'))
        snprintf(p->err, p->errsize, "column %d: unterminated string",
                 p->tok.col);
    else
        snprintf(p->err, p->errsize, "column %d: expected %s, got %s",
                 p->tok.col, what, got);
    return p->rc = DURO_EINVAL;
}

/* count_term counts a value or an IS [NOT] NULL at the current token and
 * fails the parse past DURO_VQ_MAX_TERMS: Redis evaluates the filter
 * against every row it scans, inside one Function call. */
static int count_term(parser *p)
{
    if (++p->terms <= DURO_VQ_MAX_TERMS) return 0;
    snprintf(p->err, p->errsize,
             "column %d: a filter takes at most %d values and conditions",
             p->tok.col, DURO_VQ_MAX_TERMS);
    return p->rc = DURO_EINVAL;
}

/* ---- Lexer ---- */

static bool ident_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '.';
}

/* lex_string reads a string quoted with q (' or ", as Temporal accepts
 * both); a doubled q inside stands for one. */
static int lex_string(parser *p, token *t, char q)
{
    const char *s = p->text + p->pos + 1;
    size_t n = 0, i = 0;
    for (;; i++) {
        if (!s[i]) {
            t->kind = T_BAD;
            t->len = i + 1;
            return 0;
        }
        if (s[i] == q) {
            if (s[i + 1] != q) break;
            i++;
        }
        n++;
    }
    t->str = malloc(n + 1);
    if (!t->str) return DURO_ENOMEM;
    for (size_t j = 0, k = 0; j < i; j++) {
        t->str[k++] = s[j];
        if (s[j] == q) j++;
    }
    t->str[n] = '\0';
    t->kind = T_STRING;
    t->len = i + 2;
    return 0;
}

static size_t op_len(const char *s)
{
    if ((s[0] == '!' && s[1] == '=') || (s[0] == '<' && s[1] == '>') ||
        ((s[0] == '<' || s[0] == '>') && s[1] == '='))
        return 2;
    if (s[0] == '=' || s[0] == '<' || s[0] == '>') return 1;
    return 0;
}

/* next reads the token after the current one into p->tok. */
static int next(parser *p)
{
    free(p->tok.str);
    const char *s = p->text;
    while (s[p->pos] && isspace((unsigned char)s[p->pos]))
        p->pos++;
    token t = {.col = (int)p->pos + 1, .start = s + p->pos};
    char c = s[p->pos];
    size_t n = 0;
    if (!c) {
        t.kind = T_EOF;
    } else if (c == '\'' || c == '"') {
        int rc = lex_string(p, &t, c);
        if (rc) return p->rc = rc;
        n = t.len;
    } else if (isdigit((unsigned char)c) ||
               ((c == '-' || c == '+' || c == '.') &&
                (isdigit((unsigned char)s[p->pos + 1]) ||
                 s[p->pos + 1] == '.'))) {
        char *end;
        strtod(s + p->pos, &end);
        n = (size_t)(end - (s + p->pos));
        t.kind = n && !ident_char(*end) ? T_NUMBER : T_BAD;
        if (!n) n = 1;
        while (t.kind == T_BAD && ident_char(s[p->pos + n]))
            n++;
    } else if (isalpha((unsigned char)c) || c == '_') {
        while (ident_char(s[p->pos + n]))
            n++;
        t.kind = T_IDENT;
    } else if ((n = op_len(s + p->pos))) {
        t.kind = T_OP;
    } else {
        n = 1;
        t.kind = c == '('   ? T_LPAREN
                 : c == ')' ? T_RPAREN
                 : c == ',' ? T_COMMA
                            : T_BAD;
    }
    if (t.kind != T_STRING) t.len = n;
    p->pos += t.len;
    p->tok = t;
    return 0;
}

static bool is_kw(const token *t, const char *kw)
{
    return t->kind == T_IDENT && strlen(kw) == t->len &&
           strncasecmp(t->start, kw, t->len) == 0;
}

static bool accept_kw(parser *p, const char *kw)
{
    if (!is_kw(&p->tok, kw)) return false;
    next(p);
    return true;
}

static const char *const RESERVED[] = {
    "AND",         "OR",    "NOT", "IN",  "BETWEEN", "IS",   "NULL",
    "STARTS_WITH", "ORDER", "BY",  "ASC", "DESC",    "TRUE", "FALSE"};

static bool reserved(const token *t)
{
    for (size_t i = 0; i < sizeof(RESERVED) / sizeof(*RESERVED); i++)
        if (is_kw(t, RESERVED[i])) return true;
    return false;
}

/* ---- Tree ---- */

static void node_free(duro_vq_node *n)
{
    if (!n) return;
    node_free(n->l);
    node_free(n->r);
    free(n->field);
    for (int i = 0; i < n->nvals; i++)
        free(n->vals[i].s);
    free(n->vals);
    free(n);
}

void duro_vq_free(duro_vq *q)
{
    if (!q) return;
    node_free(q->where);
    free(q);
}

static duro_vq_node *binary(parser *p, duro_vq_kind kind, duro_vq_node *l,
                            duro_vq_node *r)
{
    duro_vq_node *n = calloc(1, sizeof(*n));
    if (!n) {
        node_free(l);
        node_free(r);
        p->rc = DURO_ENOMEM;
        return NULL;
    }
    n->kind = kind;
    n->l = l;
    n->r = r;
    return n;
}

/* literal reads one literal into n's next value. */
static int literal(parser *p, duro_vq_node *n)
{
    if (count_term(p)) return p->rc;
    duro_vq_lit *v = realloc(n->vals, (size_t)(n->nvals + 1) * sizeof(*v));
    if (!v) return p->rc = DURO_ENOMEM;
    n->vals = v;
    duro_vq_lit *l = &v[n->nvals];
    memset(l, 0, sizeof(*l));
    l->col = p->tok.col;
    if (p->tok.kind == T_STRING) {
        l->type = DURO_VQ_STR;
        l->s = p->tok.str;
        p->tok.str = NULL;
    } else if (p->tok.kind == T_NUMBER) {
        l->type = DURO_VQ_NUM;
        l->s = strndup(p->tok.start, p->tok.len);
        if (!l->s) return p->rc = DURO_ENOMEM;
        l->n = strtod(l->s, NULL);
    } else if (is_kw(&p->tok, "true") || is_kw(&p->tok, "false")) {
        l->type = DURO_VQ_BOOL;
        l->b = is_kw(&p->tok, "true");
    } else {
        return expected(p, "a literal ('string', number, true or false)");
    }
    n->nvals++;
    return next(p);
}

static duro_vq_op cmp_op(const token *t)
{
    if (t->len == 1)
        return t->start[0] == '='   ? DURO_VQ_EQ
               : t->start[0] == '<' ? DURO_VQ_LT
                                    : DURO_VQ_GT;
    if (t->start[0] == '!' || t->start[1] == '>') return DURO_VQ_NE;
    return t->start[0] == '<' ? DURO_VQ_LE : DURO_VQ_GE;
}

static int in_list(parser *p, duro_vq_node *n)
{
    if (p->tok.kind != T_LPAREN) return expected(p, "'(' after IN");
    next(p);
    for (;;) {
        if (literal(p, n)) return p->rc;
        if (p->tok.kind == T_RPAREN) break;
        if (p->tok.kind != T_COMMA) return expected(p, "',' or ')'");
        next(p);
    }
    return next(p);
}

/* operator reads what follows a field name in a comparison. */
static int operator(parser *p, duro_vq_node *n)
{
    if (p->tok.kind == T_OP) {
        n->op = cmp_op(&p->tok);
        next(p);
        return literal(p, n);
    }
    bool neg = false;
    if (is_kw(&p->tok, "NOT")) {
        neg = true;
        next(p);
        if (!is_kw(&p->tok, "IN") && !is_kw(&p->tok, "BETWEEN"))
            return expected(p, "IN or BETWEEN after NOT");
    }
    if (accept_kw(p, "IN")) {
        n->op = neg ? DURO_VQ_NOT_IN : DURO_VQ_IN;
        return in_list(p, n);
    }
    if (accept_kw(p, "BETWEEN")) {
        n->op = neg ? DURO_VQ_NOT_BETWEEN : DURO_VQ_BETWEEN;
        if (literal(p, n)) return p->rc;
        if (!accept_kw(p, "AND")) return expected(p, "AND in BETWEEN");
        return literal(p, n);
    }
    if (accept_kw(p, "STARTS_WITH")) {
        n->op = DURO_VQ_STARTS_WITH;
        return literal(p, n);
    }
    if (accept_kw(p, "IS")) {
        if (count_term(p)) return p->rc;
        n->op = accept_kw(p, "NOT") ? DURO_VQ_IS_NOT_NULL : DURO_VQ_IS_NULL;
        if (!accept_kw(p, "NULL")) return expected(p, "NULL");
        return 0;
    }
    return expected(p, "an operator (=, !=, >, >=, <, <=, IN, NOT IN, "
                       "STARTS_WITH, BETWEEN, IS NULL, IS NOT NULL)");
}

static duro_vq_node *expr(parser *p, int depth);

static duro_vq_node *pred(parser *p, int depth)
{
    if (p->tok.kind == T_LPAREN) {
        if (depth > 64) {
            expected(p, "fewer nested parentheses");
            return NULL;
        }
        next(p);
        duro_vq_node *n = expr(p, depth + 1);
        if (!n) return NULL;
        if (p->tok.kind != T_RPAREN) {
            expected(p, "')'");
            node_free(n);
            return NULL;
        }
        next(p);
        return n;
    }
    if (p->tok.kind != T_IDENT || reserved(&p->tok)) {
        expected(p, "a field name or '('");
        return NULL;
    }
    duro_vq_node *n = calloc(1, sizeof(*n));
    if (!n || !(n->field = strndup(p->tok.start, p->tok.len))) {
        free(n);
        p->rc = DURO_ENOMEM;
        return NULL;
    }
    n->kind = DURO_VQ_CMP;
    n->field_col = p->tok.col;
    next(p);
    if (operator(p, n)) {
        node_free(n);
        return NULL;
    }
    return n;
}

static duro_vq_node *conjunction(parser *p, int depth)
{
    duro_vq_node *l = pred(p, depth);
    while (l && accept_kw(p, "AND")) {
        duro_vq_node *r = pred(p, depth);
        if (!r) {
            node_free(l);
            return NULL;
        }
        l = binary(p, DURO_VQ_AND, l, r);
    }
    return l;
}

static duro_vq_node *expr(parser *p, int depth)
{
    duro_vq_node *l = conjunction(p, depth);
    while (l && accept_kw(p, "OR")) {
        duro_vq_node *r = conjunction(p, depth);
        if (!r) {
            node_free(l);
            return NULL;
        }
        l = binary(p, DURO_VQ_OR, l, r);
    }
    return l;
}

static int order_by(parser *p, duro_vq *q)
{
    if (!accept_kw(p, "BY")) return expected(p, "BY after ORDER");
    if (!is_kw(&p->tok, "StartTime") && !is_kw(&p->tok, "CloseTime"))
        return expected(p, "StartTime or CloseTime after ORDER BY");
    /* the canonical spelling: keywords here are case-insensitive */
    snprintf(q->order_field, sizeof(q->order_field), "%s",
             tolower((unsigned char)p->tok.start[0]) == 's' ? "StartTime"
                                                            : "CloseTime");
    next(p);
    q->desc = true;
    if (accept_kw(p, "ASC"))
        q->desc = false;
    else
        accept_kw(p, "DESC");
    return 0;
}

int duro_vq_parse(const char *text, duro_vq **out, char *err, size_t errsize)
{
    *out = NULL;
    if (errsize) err[0] = '\0';
    parser p = {.text = text ? text : "", .err = err, .errsize = errsize};
    duro_vq *q = calloc(1, sizeof(*q));
    if (!q) return DURO_ENOMEM;
    next(&p);
    if (p.tok.kind != T_EOF && !is_kw(&p.tok, "ORDER")) {
        q->where = expr(&p, 0);
        if (!q->where && !p.rc) p.rc = DURO_EINVAL;
    }
    if (!p.rc && accept_kw(&p, "ORDER")) order_by(&p, q);
    if (!p.rc && p.tok.kind != T_EOF)
        expected(&p, q->order_field[0] ? "the end of the query"
                                       : "AND, OR, ORDER BY or the end");
    free(p.tok.str);
    if (p.rc) {
        if (p.rc == DURO_ENOMEM) snprintf(err, errsize, "out of memory");
        duro_vq_free(q);
        return p.rc;
    }
    *out = q;
    return 0;
}

const char *duro_vq_op_name(duro_vq_op op)
{
    static const char *const NAMES[] = {[DURO_VQ_EQ] = "=",
                                        [DURO_VQ_NE] = "!=",
                                        [DURO_VQ_GT] = ">",
                                        [DURO_VQ_GE] = ">=",
                                        [DURO_VQ_LT] = "<",
                                        [DURO_VQ_LE] = "<=",
                                        [DURO_VQ_IN] = "IN",
                                        [DURO_VQ_NOT_IN] = "NOT IN",
                                        [DURO_VQ_STARTS_WITH] = "STARTS_WITH",
                                        [DURO_VQ_BETWEEN] = "BETWEEN",
                                        [DURO_VQ_NOT_BETWEEN] = "NOT BETWEEN",
                                        [DURO_VQ_IS_NULL] = "IS NULL",
                                        [DURO_VQ_IS_NOT_NULL] = "IS NOT NULL"};
    return (unsigned)op < sizeof(NAMES) / sizeof(*NAMES) ? NAMES[op] : "?";
}
