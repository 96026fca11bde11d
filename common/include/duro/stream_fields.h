/* stream_fields.h: reading task entries out of XREADGROUP / XRANGE /
 * XPENDING replies. Internal to Duro's programs (not installed). */
#ifndef DURO_STREAM_FIELDS_H
#define DURO_STREAM_FIELDS_H

#include <hiredis/hiredis.h>

/* duro__stream_entry splits one stream entry, [id, [k, v, k, v, ...]], into
 * its id and its field array (both borrowed from entry). Returns 0, or
 * DURO_EPROTO when the entry has another shape (dead-letter it). */
int duro__stream_entry(const redisReply *entry, const char **id,
                       const redisReply **fields);

/* duro__stream_field_dup copies the string value of field `name`. Returns 0
 * with *out the copy (caller frees with free()) or NULL when the field is
 * absent or not a string; DURO_ENOMEM (*out NULL) when the copy failed. */
int duro__stream_field_dup(const redisReply *fields, const char *name,
                           char **out);

/* duro__stream_fields_json renders the string fields as one JSON object
 * ({"k":"v",...}), for a human reading a dead letter. Caller frees with
 * free(); NULL when out of memory. */
char *duro__stream_fields_json(const redisReply *fields);

#endif
