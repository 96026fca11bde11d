/* codec.h: payload codecs, what user payloads become before they reach
 * Redis (Temporal's Payload Codec).
 *
 * A codec turns the JSON text of one user payload (workflow input and
 * result, activity input and result, signal and query arguments, query
 * results, heartbeat details, side-effect values, memo) into the JSON text
 * Duro stores, and back. The SDK (duro_worker_opts.codec), the client
 * library (duro_client_set_codec) and the CLI apply it to every payload;
 * names, ids, statuses, timestamps, failure messages and search attributes
 * stay plain, as Redis needs them to route and index. A new kind of
 * payload (memo) encodes each value with duro_codec_encode_json where it
 * is written and decodes it with duro_codec_decode_item where it is read
 * (duro_codec_decode_event for a new event type).
 *
 * The encoded form must be a JSON string: the Lua library embeds payloads
 * in event data without parsing them, and Duro hands a codec only string
 * values to decode (any other value is plain by construction). The
 * built-in codec (duro_codec_aes_new) stores
 *
 *     "duro:aes256gcm:v1:<keyid>:<base64(nonce | ciphertext | tag)>"
 *
 * Decode must recognise payloads it did not encode (data written before
 * the codec was turned on) and answer DURO_CODEC_PLAIN for them.
 *
 * Threads: encode and decode run on the worker's loop and on its activity
 * threads at once; they must be safe to call concurrently. */
#ifndef DURO_CODEC_H
#define DURO_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>
#include "duro/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* DURO_CODEC_PLAIN: decode's answer for a payload it did not encode. */
#define DURO_CODEC_PLAIN 1

/* DURO_CODEC_KEY_FILE_ENV names the built-in codec's key file. */
#define DURO_CODEC_KEY_FILE_ENV "DURO_CODEC_KEY_FILE"

/* DURO_CODEC_AES_PREFIX starts every payload the built-in codec wrote. */
#define DURO_CODEC_AES_PREFIX "duro:aes256gcm:v1:"

/* DURO_CODEC_KEYID_MAX: the longest key id. */
#define DURO_CODEC_KEYID_MAX 64

/* duro_codec: a pair of hooks and their argument, borrowed by whoever it
 * is given to (it must outlive the worker or client).
 *
 * encode gets a payload's JSON text (len bytes, NUL-terminated) and sets
 * *out to the JSON text of a JSON string to store (malloc'd; the caller
 * frees); returns 0, or a negative DURO_E* with a message in err.
 *
 * decode gets the JSON text of a stored JSON string and sets *out to the
 * payload's JSON text (malloc'd); returns 0, DURO_CODEC_PLAIN (*out left
 * NULL) for a payload it did not encode, or a negative DURO_E* with a
 * message in err (DURO_ECODEC: no key for it, or it fails
 * authentication). */
typedef struct duro_codec {
    int (*encode)(void *arg, const char *json, size_t len, char **out,
                  char *err, size_t errsize);
    int (*decode)(void *arg, const char *json, size_t len, char **out,
                  char *err, size_t errsize);
    void *arg;
} duro_codec;

/* ---- Applying a codec (c may be NULL: payloads pass as they are) ---- */

/* duro_codec_encode encodes JSON text: 0 and *out (caller frees), or a
 * negative DURO_E* with a message. */
DURO_EXPORT int duro_codec_encode(const duro_codec *c, const char *json,
                                  char **out, char *err, size_t errsize);

/* duro_codec_encode_json prints v (NULL = null) and encodes it: a payload
 * that enters (a worker's values), so text that is not well-formed UTF-8
 * (a string built from raw bytes) is refused first, DURO_EJSON "invalid
 * UTF-8 at byte N", checked once on the printed text. */
DURO_EXPORT int duro_codec_encode_json(const duro_codec *c, const cJSON *v,
                                       char **out, char *err, size_t errsize);

/* duro_codec_decode decodes stored JSON text: 0 and *out (the payload's
 * text, or a copy of json when it is plain; caller frees), or a negative
 * DURO_E* with a message. */
DURO_EXPORT int duro_codec_decode(const duro_codec *c, const char *json,
                                  char **out, char *err, size_t errsize);

/* duro_codec_parse decodes stored JSON text and parses it (at most max
 * bytes of payload, as duro_json_parse): 0 and *out (caller frees), or
 * DURO_ECODEC / DURO_EJSON / DURO_ETOOBIG / DURO_ENOMEM with a message.
 * Plain text is parsed without a copy. */
DURO_EXPORT int duro_codec_parse(const duro_codec *c, const char *json,
                                 size_t max, cJSON **out, char *err,
                                 size_t errsize);

/* duro_codec_decode_item replaces obj's member `field` by its decoded
 * value, when it is an encoded payload. Returns 0 (also when obj has no
 * such member, or it is plain), or a negative DURO_E* with a message
 * (the member is left as it was). */
DURO_EXPORT int duro_codec_decode_item(const duro_codec *c, cJSON *obj,
                                       const char *field, char *err,
                                       size_t errsize);

/* duro_codec_decode_event decodes, in place, the payload members of a
 * history event's data: WorkflowStarted's and ActivityScheduled's and
 * SignalReceived's "input", ActivityCompleted's and WorkflowCompleted's
 * "result", MarkerRecorded's "value", WorkflowCanceled's "details".
 * type is a duro_event_type. Returns 0 or the first error. */
DURO_EXPORT int duro_codec_decode_event(const duro_codec *c, int type,
                                        cJSON *data, char *err, size_t errsize);

/* duro_codec_sealed tells whether v is a payload the built-in codec wrote
 * (whatever codec is configured), and copies its key id into kid (at
 * least DURO_CODEC_KEYID_MAX + 1 bytes; may be NULL). The CLI uses it to
 * show "<encrypted: key kid>" for payloads it cannot decode. */
DURO_EXPORT bool duro_codec_sealed(const cJSON *v, char *kid, size_t kidsize);

/* ---- The built-in AES-256-GCM codec ---- */

/* duro_codec_aes_new reads the key file `path`: one key per line,
 * "<keyid> <64 hex digits>" (blank lines and lines starting with # are
 * skipped). The first key encodes; every key decodes, so keys rotate by
 * putting a new line first and keeping the old ones. Each payload gets a
 * random 96-bit nonce and carries its key id, which is also the
 * authenticated data. Warns (duro_log) when the file is readable by group
 * or others. Returns 0 and *out (free with duro_codec_aes_free), or
 * DURO_EINVAL (unreadable or malformed file, named with the line) /
 * DURO_ENOMEM with a message in err. */
DURO_EXPORT int duro_codec_aes_new(const char *path, duro_codec **out,
                                   char *err, size_t errsize);

/* duro_codec_aes_from_env: duro_codec_aes_new on $DURO_CODEC_KEY_FILE; 0
 * with *out NULL when it is unset or empty. */
DURO_EXPORT int duro_codec_aes_from_env(duro_codec **out, char *err,
                                        size_t errsize);

/* duro_codec_aes_has_key: the codec (one duro_codec_aes_new made) holds
 * key `kid`. */
DURO_EXPORT bool duro_codec_aes_has_key(const duro_codec *c, const char *kid);

/* duro_codec_aes_free wipes the keys and frees. NULL is ignored. */
DURO_EXPORT void duro_codec_aes_free(duro_codec *c);

#ifdef __cplusplus
}
#endif
#endif
