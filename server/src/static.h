/* static.h: the web UI (`/`) and the food app (`/apps/food/`), static
 * files compiled into the binary from server/web by embed_web.cmake and
 * served by static.c. */
#ifndef DURO_SERVER_STATIC_H
#define DURO_SERVER_STATIC_H

#include <stdbool.h>
#include <stddef.h>
#include <microhttpd.h>

typedef struct {
    const char *path; /* URL path, e.g. "/apps/food/index.html" */
    const unsigned char *data;
    size_t len;
    const char *etag; /* quoted, from the file's SHA-256 */
} srv_static_file;

extern const srv_static_file srv_static_files[];
extern const unsigned long srv_static_nfiles;

/* srv_static_wanted: a GET or HEAD outside the API (/api/, /healthz,
 * /metrics), answered from the embedded files without a token: the pages
 * hold no data, and a browser cannot add a bearer token to a navigation
 * (the pages ask for the token and send it on their API calls). */
bool srv_static_wanted(const char *method, const char *url);

/* srv_static_find: the file of a URL path ("/" and ".../" mean their
 * index.html), or NULL. */
const srv_static_file *srv_static_find(const char *url);

/* srv_static_type: the Content-Type for a path, by its extension. */
const char *srv_static_type(const char *path);

/* srv_static_send answers url: the file (200, or 304 when If-None-Match
 * holds its ETag), a redirect to "url/" for a directory asked without its
 * slash, or 404. *status gets the status sent. */
enum MHD_Result srv_static_send(struct MHD_Connection *c, const char *url,
                                unsigned *status);

#endif
