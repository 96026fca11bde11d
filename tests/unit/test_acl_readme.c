/* test_acl_readme.c: the README's "ACL roles" table against the grants
 * (client/src/acl_roles.c), cell by cell, so that the table cannot drift
 * from what `duro operator acl` prints. A failure shows the cell to paste. */
#include <criterion/criterion.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl_roles.h"

#define W DURO_ACL_WORKER
#define S DURO_ACL_SCHEDULER
#define C DURO_ACL_CLIENT
#define A DURO_ACL_ADMIN
#define EVERY (W | S | C)
#define RO (1u << 7) /* acl_roles.c: granted as FCALL_RO */

TestSuite(acl_readme, .timeout = 10);

/* ---- What the table must say ---- */

typedef struct {
    char s[4096];
    size_t n;
} buf;

static void add(buf *b, const char *fmt, const char *a, const char *c)
{
    b->n += (size_t)snprintf(b->s + b->n, sizeof(b->s) - b->n, fmt, a, c);
    cr_assert_lt(b->n, sizeof(b->s));
}

/* in_row: the grant belongs in row `role` (EVERY: the "every role" row;
 * A: admin's own). */
static bool in_row(const duro__acl_grant *g, unsigned role)
{
    unsigned r = g->roles & EVERY;
    if (role == EVERY) return r == EVERY;
    if (role == A) return r == 0;
    return (r & role) && r != EVERY;
}

static void upper(char *s)
{
    for (; *s; s++)
        *s = (char)toupper((unsigned char)*s);
}

/* want_commands: "`XGROUP CREATE\|DELCONSUMER`, `SADD`, ..." in table
 * order, a command's subcommands joined at its first. */
static void want_commands(unsigned role, buf *b)
{
    bool done[256] = {false};
    int i = 0;
    for (const duro__acl_grant *g = duro__acl_commands; g->name; g++, i++) {
        if (done[i] || !in_row(g, role)) continue;
        char cmd[64];
        snprintf(cmd, sizeof(cmd), "%s", g->name);
        char *bar = strchr(cmd, '|');
        if (bar) *bar = '\0';
        upper(cmd);
        add(b, "%s`%s", b->n ? ", " : "", cmd);
        if (bar) {
            int j = i;
            const char *sep = " ";
            for (const duro__acl_grant *h = g; h->name; h++, j++) {
                size_t n = strlen(g->name) - strlen(bar + 1);
                /* the same command (the part before its '|') */
                if (done[j] || !in_row(h, role) || strlen(h->name) < n ||
                    memcmp(h->name, g->name, n) != 0)
                    continue;
                char sub[64];
                snprintf(sub, sizeof(sub), "%s", h->name + n);
                upper(sub);
                add(b, "%s%s", sep, sub);
                sep = "\\|";
                done[j] = true;
            }
        }
        add(b, "%s%s", "`", "");
    }
}

static void want_functions(unsigned role, buf *b)
{
    for (const duro__acl_grant *g = duro__acl_functions; g->name; g++)
        if (in_row(g, role)) {
            add(b, "%s`%s`", b->n ? ", " : "", g->name);
            if (g->roles & RO) add(b, "%s%s", " (`FCALL_RO`)", "");
        }
}

/* ---- What the table says ---- */

static char *readme(void)
{
    FILE *f = fopen(DURO_SOURCE_DIR "/README.md", "rb");
    cr_assert(f, "cannot open README.md");
    static char text[1 << 20];
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    char *sec = strstr(text, "\n### ACL roles\n");
    cr_assert(sec, "README.md has no \"### ACL roles\" section");
    char *end = strstr(sec + 1, "\n### ");
    if (end) *end = '\0';
    return sec;
}

/* cell: column col (0: the role) of the table row that starts with
 * "| <first> |", copied into out; "\|" inside a cell is not a separator. */
static void cell(const char *sec, const char *first, int col, char *out,
                 size_t size)
{
    char head[64];
    snprintf(head, sizeof(head), "\n| %s |", first);
    const char *p = strstr(sec, head);
    cr_assert(p, "README.md ACL roles: no row for %s", first);
    p++; /* at the row's first '|', which column 0 follows */
    for (int c = 0; c <= col; c++) {
        p = strchr(p, '|');
        while (p && p[-1] == '\\')
            p = strchr(p + 1, '|');
        cr_assert(p && p[1] != '\n', "row %s has no column %d", first, col);
        p++;
    }
    const char *e = p;
    while (*e && *e != '\n' && !(*e == '|' && e[-1] != '\\'))
        e++;
    while (p < e && *p == ' ')
        p++;
    while (e > p && e[-1] == ' ')
        e--;
    cr_assert_lt((size_t)(e - p), size);
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = '\0';
}

static void check(const char *sec, const char *row, int col, const char *want)
{
    char got[4096];
    cell(sec, row, col, got, sizeof(got));
    cr_assert_str_eq(got, want,
                     "README.md, ACL roles, row %s, column %d says\n  %s\n"
                     "but client/src/acl_roles.c grants\n  %s",
                     row, col, got, want);
}

/* ---- The rows ---- */

static const struct {
    const char *row;
    unsigned role;
} ROWS[] = {
    {"every role", EVERY},
    {"`worker`", W},
    {"`scheduler`", S},
    {"`client`", C},
};

Test(acl_readme, every_row_lists_exactly_its_functions_and_commands)
{
    const char *sec = readme();
    for (size_t i = 0; i < sizeof(ROWS) / sizeof(ROWS[0]); i++) {
        buf f = {.n = 0}, c = {.n = 0};
        want_functions(ROWS[i].role, &f);
        want_commands(ROWS[i].role, &c);
        cr_assert_gt(f.n + c.n, 0, "%s: nothing granted?", ROWS[i].row);
        check(sec, ROWS[i].row, 1, f.n ? f.s : "-");
        check(sec, ROWS[i].row, 2, c.n ? c.s : "-");
    }
    buf a = {.n = 0};
    add(&a, "%s%s", "all of the above, and ", "");
    buf own = {.n = 0};
    want_commands(A, &own);
    cr_assert_gt(own.n, 0, "admin has nothing of its own?");
    add(&a, "%s%s", own.s, "");
    check(sec, "`admin`", 1, "all of them");
    check(sec, "`admin`", 2, a.s);
}

/* The check itself: a made-up table fails it where it should. */
Test(acl_readme, the_cell_reader_splits_on_unescaped_bars_only)
{
    const char *sec = "\n### ACL roles\n| r | `a\\|b`, `c` | x |\n";
    char got[64];
    cell(sec, "r", 1, got, sizeof(got));
    cr_assert_str_eq(got, "`a\\|b`, `c`");
    cell(sec, "r", 2, got, sizeof(got));
    cr_assert_str_eq(got, "x");
    buf b = {.n = 0};
    want_commands(W, &b);
    cr_assert(strstr(b.s, "`XGROUP CREATE\\|DELCONSUMER`"), "%s", b.s);
    cr_assert_null(strstr(b.s, "`FUNCTION"), "%s", b.s);
}
