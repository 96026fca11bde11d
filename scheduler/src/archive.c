/* archive.c: archival (duro-scheduler --archive-dir): a run's history
 * written to a JSON-lines file before retention removes it. One line per
 * run: {"namespace","workflowId","runId","type","taskQueue","status",
 * "startTime","closeTime" (ms),"history":[{"eventId","type","time","data"}]}
 * in <dir>/<namespace>-<YYYY-MM-DD>.jsonl by the day the run closed (UTC).
 * The line is flushed to disk before the run is removed; a crash between
 * the two writes it again next time, and readers keep one line per run
 * (duro workflow history --archived). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "duro/clock.h"
#include "duro/history.h"
#include "duro/log.h"
#include "sched_internal.h"

static const char *hfield(const redisReply *h, const char *name)
{
    for (size_t i = 0; h && i + 1 < h->elements; i += 2)
        if (duro__reply_str(h->element[i]) &&
            strcmp(h->element[i]->str, name) == 0)
            return duro__reply_str(h->element[i + 1]);
    return NULL;
}

cJSON *archive_meta(const nspace *ns, const redisReply *row, const char *run)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "namespace", ns->ks.ns);
    static const char *const strs[][2] = {{"id", "workflowId"},
                                          {"run", "runId"},
                                          {"type", "type"},
                                          {"queue", "taskQueue"},
                                          {"status", "status"}};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        const char *v = hfield(row, strs[i][0]);
        /* a row written by library 31 or newer has no `run`: its key
         * names it */
        if (!v && i == 1) v = run;
        cJSON_AddStringToObject(o, strs[i][1], v ? v : "");
    }
    const char *start = hfield(row, "start"), *close = hfield(row, "close");
    cJSON_AddNumberToObject(o, "startTime", start ? strtod(start, NULL) : 0);
    cJSON_AddNumberToObject(o, "closeTime", close ? strtod(close, NULL) : 0);
    return o;
}

static cJSON *events_json(const redisReply *hist)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && i < hist->elements; i++) {
        duro_event e;
        char err[128], t[40];
        if (duro_event_decode_reply(hist->element[i], (int64_t)i + 1, &e, err,
                                    sizeof(err)) != 0) {
            duro_warn("ARCHIVE bad event skipped: %s", err);
            continue;
        }
        cJSON *o = cJSON_CreateObject();
        if (!o) {
            duro_event_free(&e);
            break;
        }
        cJSON_AddNumberToObject(o, "eventId", (double)e.id);
        cJSON_AddStringToObject(o, "type", duro_event_name(e.type));
        cJSON_AddStringToObject(o, "time", duro_iso8601(e.ts, t, sizeof(t)));
        cJSON_AddItemToObject(o, "data", e.data);
        e.data = NULL;
        duro_event_free(&e);
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

/* ends_open: whether the file of fd ends without a newline: the partial
 * line of a write that failed (a full disk) or of a crash. */
static int ends_open(int fd)
{
    struct stat st;
    char last = '\n';
    if (fstat(fd, &st) != 0 || st.st_size == 0) return 0;
    return pread(fd, &last, 1, st.st_size - 1) == 1 && last != '\n';
}

/* write_line appends line and a newline in one writev (O_APPEND: never
 * interleaved with another writer's line), then fsyncs. After a partial
 * line it first ends that one, or the two would read as one bad line and
 * this run would be lost from the archive once removed. */
static int write_line(const char *path, const char *line)
{
    int fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return -1;
    size_t n = strlen(line), lead = (size_t)ends_open(fd);
    struct iovec iov[3] = {{.iov_base = "\n", .iov_len = lead},
                           {.iov_base = (void *)line, .iov_len = n},
                           {.iov_base = "\n", .iov_len = 1}};
    ssize_t w = writev(fd, iov, 3);
    int rc = w == (ssize_t)(lead + n + 1) && fsync(fd) == 0 ? 0 : -1;
    if (close(fd) != 0) rc = -1;
    return rc;
}

int archive_run(sched *s, const nspace *ns, cJSON *meta, const redisReply *hist)
{
    cJSON *events = events_json(hist);
    if (!events) return -1;
    cJSON_AddItemToObject(meta, "history", events);
    char *line = cJSON_PrintUnformatted(meta);
    /* the history is the big part: not kept once written */
    cJSON_DeleteItemFromObject(meta, "history");
    if (!line) return -1;
    time_t closed =
        (time_t)(cJSON_GetNumberValue(cJSON_GetObjectItem(meta, "closeTime")) /
                 1000);
    struct tm tm;
    gmtime_r(&closed, &tm);
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s-%04d-%02d-%02d.jsonl", s->archive_dir,
             ns->ks.ns, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    (void)mkdir(s->archive_dir, 0755); /* EEXIST is the usual answer */
    int rc = write_line(path, line);
    if (rc)
        duro_warn_limited(NULL, "ARCHIVE FAILED path=%s err=%s", path,
                          strerror(errno));
    cJSON_free(line);
    return rc;
}
