/* static.c: serves the embedded web UI and food app (static.h).
 *
 * Caching: the files change with the binary and have no fingerprinted
 * names, so every answer says `Cache-Control: no-cache` with a strong ETag
 * (the file's SHA-256 at build time): the browser revalidates and gets a
 * 304 without the body while the server is unchanged, and never runs an old
 * page against a new API. HTML pages also get a Content-Security-Policy
 * that allows this origin only (no CDN, no inline script). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "duro/json.h"
#include "static.h"

#define CSP                                                                    \
    "default-src 'self'; img-src 'self' data:; object-src 'none'; "            \
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

bool srv_static_wanted(const char *method, const char *url)
{
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
        strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return false;
    return strncmp(url, "/api/", 5) != 0 && strcmp(url, "/api") != 0 &&
           strcmp(url, "/healthz") != 0 && strcmp(url, "/metrics") != 0;
}

const srv_static_file *srv_static_find(const char *url)
{
    char path[512];
    size_t n = strlen(url);
    if (n == 0 || url[0] != '/' || n + sizeof("index.html") > sizeof(path))
        return NULL;
    snprintf(path, sizeof(path), "%s%s", url,
             url[n - 1] == '/' ? "index.html" : "");
    for (unsigned long i = 0; i < srv_static_nfiles; i++)
        if (strcmp(srv_static_files[i].path, path) == 0)
            return &srv_static_files[i];
    return NULL;
}

const char *srv_static_type(const char *path)
{
    static const struct {
        const char *ext, *type;
    } TYPES[] = {
        {".html", "text/html; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".json", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < sizeof(TYPES) / sizeof(TYPES[0]); i++)
        if (strcmp(dot, TYPES[i].ext) == 0) return TYPES[i].type;
    return "application/octet-stream";
}

static enum MHD_Result queue(struct MHD_Connection *c, unsigned status,
                             struct MHD_Response *resp, unsigned *out)
{
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    enum MHD_Result rc = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    *out = status;
    return rc;
}

/* not_found answers like the API's 404 ({"code","message"}), so that a
 * client meets one error shape whatever the path. */
static enum MHD_Result not_found(struct MHD_Connection *c, const char *url,
                                 unsigned *status)
{
    cJSON *e = cJSON_CreateObject();
    char msg[600];
    snprintf(msg, sizeof(msg),
             "no page or route %.400s (the web UI is at /, the food app at "
             "/apps/food/, the API under /api/v1/)",
             url);
    cJSON_AddStringToObject(e, "code", "NOT_FOUND");
    cJSON_AddStringToObject(e, "message", msg);
    /* the path may hold bytes that are not UTF-8, and %.400s may cut one */
    char *body = duro_json_print_out(e);
    cJSON_Delete(e);
    struct MHD_Response *resp =
        body ? MHD_create_response_from_buffer(strlen(body), body,
                                               MHD_RESPMEM_MUST_FREE)
             : NULL;
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "application/json");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    return queue(c, MHD_HTTP_NOT_FOUND, resp, status);
}

enum MHD_Result srv_static_send(struct MHD_Connection *c, const char *url,
                                unsigned *status)
{
    const srv_static_file *f = srv_static_find(url);
    if (!f) {
        char dir[512];
        if (strlen(url) + 2 > sizeof(dir)) return not_found(c, url, status);
        snprintf(dir, sizeof(dir), "%s/", url);
        if (!srv_static_find(dir)) return not_found(c, url, status);
        struct MHD_Response *resp =
            MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        if (resp) MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, dir);
        return queue(c, MHD_HTTP_MOVED_PERMANENTLY, resp, status);
    }
    const char *inm = MHD_lookup_connection_value(
        c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
    bool fresh = inm && strstr(inm, f->etag);
    struct MHD_Response *resp =
        fresh ? MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT)
              : MHD_create_response_from_buffer(f->len, (void *)f->data,
                                                MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    const char *type = srv_static_type(f->path);
    if (!fresh)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, f->etag);
    if (strncmp(type, "text/html", 9) == 0)
        MHD_add_response_header(resp, "Content-Security-Policy", CSP);
    return queue(c, fresh ? MHD_HTTP_NOT_MODIFIED : MHD_HTTP_OK, resp, status);
}
