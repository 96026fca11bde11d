/* cli_archive.c: `duro workflow history --archived`: a run's history read
 * back from the files duro-scheduler --archive-dir writes (scheduler/src/
 * archive.c has the format): <dir>/<namespace>-<YYYY-MM-DD>.jsonl, one line
 * per run. A run archived twice (a crash between writing and removing it)
 * has two equal lines; the last one read wins. Two schedulers sweeping at
 * once can also write a second line without events (one read the run's
 * row before the other removed it, its history after): of a run's lines,
 * the one with the most events wins. */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "duro/errno.h"
#include "duro/keys.h"

/* best: the chosen line so far (the run asked for, else the id's run that
 * closed last), its run id (in line) and its number of events. */
typedef struct {
    cJSON *line;
    double close;
    const char *run;
    int events;
} best;

static void consider(best *b, cJSON *line, const char *id, const char *run)
{
    const char *wid =
        cJSON_GetStringValue(cJSON_GetObjectItem(line, "workflowId"));
    const char *rid = cJSON_GetStringValue(cJSON_GetObjectItem(line, "runId"));
    double close = cJSON_GetNumberValue(cJSON_GetObjectItem(line, "closeTime"));
    int events = cJSON_GetArraySize(cJSON_GetObjectItem(line, "history"));
    bool same = b->line && rid && b->run && strcmp(rid, b->run) == 0;
    if (!wid || strcmp(wid, id) != 0 ||
        (run && (!rid || strcmp(rid, run) != 0)) ||
        (b->line && close < b->close) || (same && events < b->events)) {
        cJSON_Delete(line);
        return;
    }
    cJSON_Delete(b->line);
    b->line = line;
    b->close = close;
    b->run = rid;
    b->events = events;
}

static void scan_file(const char *path, const char *id, const char *run,
                      best *b)
{
    FILE *f = fopen(path, "r");
    if (!f) return;
    char *buf = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&buf, &cap, f)) > 0) {
        /* a cheap test first: most lines are other workflows' */
        if (!strstr(buf, id)) continue;
        cJSON *line = cJSON_Parse(buf);
        if (line) consider(b, line, id, run);
    }
    free(buf);
    fclose(f);
}

int cli_archive_history(cli_ctx *ctx, cJSON **events)
{
    const char *dir = cli_get(ctx, "archive-dir");
    if (!dir) dir = getenv("DURO_ARCHIVE_DIR");
    if (!dir || !*dir)
        return cli_usage(ctx, "--archived needs --archive-dir (or "
                              "$DURO_ARCHIVE_DIR)");
    const char *ns = duro_namespace_default(ctx->namespace_);
    const char *id = cli_get(ctx, "workflow-id"), *run = cli_get(ctx, "run-id");
    DIR *d = opendir(dir);
    if (!d)
        return cli_fail_err(DURO_ENOTFOUND, "cannot read %s: %s", dir,
                            strerror(errno));
    size_t nslen = strlen(ns);
    best b = {0};
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        /* <ns>-YYYY-MM-DD.jsonl */
        if (len != nslen + 17 || strncmp(e->d_name, ns, nslen) != 0 ||
            e->d_name[nslen] != '-' ||
            strcmp(e->d_name + len - 6, ".jsonl") != 0)
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        scan_file(path, id, run, &b);
    }
    closedir(d);
    if (!b.line)
        return cli_fail_err(DURO_ENOTFOUND,
                            "workflow %s%s%s not found in the archive %s "
                            "(namespace %s)",
                            id, run ? " run " : "", run ? run : "", dir, ns);
    *events = cJSON_DetachItemFromObject(b.line, "history");
    cJSON_Delete(b.line);
    if (!*events) *events = cli_checked(cJSON_CreateArray());
    return 0;
}
