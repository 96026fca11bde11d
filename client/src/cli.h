/* cli.h: the duro command line: command tables, option parsing, output. */
#ifndef DURO_CLI_H
#define DURO_CLI_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "duro/client.h"

/* Exit statuses. */
#define CLI_OK 0
#define CLI_FAILED 1 /* the command ran and failed (runtime error) */
#define CLI_USAGE 2  /* the command line was wrong */

/* cli_opt describes one option; tables end with a zeroed entry. */
typedef struct {
    const char *name; /* long name without "--" */
    char short_name;  /* e.g. 'w' for -w, or 0 */
    const char *arg;  /* value placeholder ("ID"); NULL for a flag */
    const char *help;
    bool required;
} cli_opt;

#define CLI_MAX_OPTS 32

/* cli_ctx: one invocation: the command path, parsed options, the client. */
typedef struct {
    char path[64];                    /* "duro workflow start" */
    const cli_opt *opts;              /* the command's own options */
    const char *values[CLI_MAX_OPTS]; /* by index in opts; NULL = unset */
    const char *redis_url;  /* --redis, NULL = $DURO_REDIS_URL/default */
    const char *namespace_; /* -n/--namespace, NULL = $DURO_NAMESPACE/default */
    bool json;              /* -o json */
    bool help;              /* --help seen */
    bool version;           /* --version seen */
    duro_client *client;    /* set by cli_connect */
} cli_ctx;

/* cli_cmd: one leaf command, e.g. "start" under "workflow". */
typedef struct {
    const char *name;
    const char *summary;
    const cli_opt *opts;
    int (*run)(cli_ctx *ctx); /* returns an exit status */
} cli_cmd;

/* cli_group: a noun with its commands, e.g. "workflow", or with nouns
 * under it ("operator namespace create"). */
typedef struct cli_group {
    const char *name;
    const char *summary;
    const cli_cmd *cmds;                   /* ends with a zeroed entry */
    const struct cli_group *const *groups; /* NULL, or NULL-terminated */
} cli_group;

extern const cli_group cli_workflow_group;
extern const cli_group cli_queue_group;
extern const cli_group cli_dev_group;         /* cli_dev.c */
extern const cli_group cli_health_group;      /* cli_health.c */
extern const cli_group cli_operator_group;    /* cli_operator.c */
extern const cli_group cli_search_attr_group; /* cli_search_attr.c */
extern const cli_group cli_schedule_group;    /* cli_schedule.c */
extern const cli_group cli_activity_group;    /* cli_activity.c */
extern const cli_group cli_server_group;      /* server/src/cli_server.c */

/* ---- Listing and counting (cli_list.c) ---- */

extern const cli_opt cli_list_opts[], cli_count_opts[];
int cli_list(cli_ctx *ctx);
int cli_count(cli_ctx *ctx);

/* cli_get_search_attributes reads every --search-attribute NAME=VALUE of
 * the command line (the option repeats) into *out ({"NAME": value}, each
 * typed by the registry; NULL when none given). Returns 0, or CLI_USAGE /
 * CLI_FAILED after printing why (cli_search_attr.c). */
int cli_get_search_attributes(cli_ctx *ctx, cJSON **out);

/* cli_argc, cli_argv: the whole command line, for options that repeat. */
extern int cli_argc;
extern char **cli_argv;

/* ---- Operator commands (cli_acl.c, cli_init.c) ---- */

extern const cli_opt cli_acl_opts[], cli_init_opts[];
int cli_acl(cli_ctx *ctx);
int cli_init(cli_ctx *ctx);

/* ---- Namespaces and retention (cli_namespace.c, cli_archive.c) ---- */

extern const cli_group cli_namespace_group;
extern const cli_opt cli_delete_opts[];
/* cli_delete: duro workflow delete. */
int cli_delete(cli_ctx *ctx);
/* cli_archive_history reads a run's history from the archive directory
 * (--archive-dir, else $DURO_ARCHIVE_DIR) into *events, in the shape of
 * duro_client_history. Returns 0 or an exit status after printing why. */
int cli_archive_history(cli_ctx *ctx, cJSON **events);

/* ---- Commands for running workflows (cli_signal.c) ---- */

extern const cli_opt cli_signal_opts[], cli_signal_with_start_opts[],
    cli_cancel_opts[], cli_query_opts[];
int cli_signal(cli_ctx *ctx);
int cli_signal_with_start(cli_ctx *ctx);
int cli_cancel(cli_ctx *ctx);
int cli_query(cli_ctx *ctx);
/* cli_print_result prints a handler's JSON result (a query's, an
 * update's): compact as given in text mode, indented with -o json. */
void cli_print_result(const cli_ctx *ctx, const char *text);

/* ---- Updates (cli_update.c) ---- */

extern const cli_opt cli_update_opts[];
int cli_update(cli_ctx *ctx);

/* `duro workflow stack` (cli_stack.c); cli_describe_add_stack adds
 * "stack" (or {"error"}) to a RUNNING workflow's describe object d, and
 * cli_stack_print prints such a stack object as text. */
extern const cli_opt cli_stack_opts[];
int cli_stack(cli_ctx *ctx);
void cli_describe_add_stack(cli_ctx *ctx, cJSON *d);
void cli_stack_print(const cJSON *st);

/* ---- Reset (cli_reset.c) ---- */

extern const cli_opt cli_reset_opts[];
int cli_reset(cli_ctx *ctx);

/* ---- Waiting for a result (cli_wait.c) ---- */

/* cli_wait_result is duro_client_result; with timeout_ms 0 (wait forever)
 * it also prints one warning on stderr when, after
 * $DURO_RESULT_WARN_AFTER (default 5s; 0 or "off" never), no worker polls
 * the workflow's task queue, and keeps waiting. */
int cli_wait_result(cli_ctx *ctx, const char *id, int64_t timeout_ms,
                    cJSON **out);

/* ---- Payload codec (cli_codec.c) ---- */

/* cli_codec_setup gives ctx->client the built-in codec when
 * $DURO_CODEC_KEY_FILE names a key file (loaded once per process).
 * Returns 0, or a DURO_E* with why the file is unusable in err. */
int cli_codec_setup(cli_ctx *ctx, char *err, size_t errsize);
/* cli_codec_mask prints once to stderr why a payload in v could not be
 * decoded (no key file, no such key, altered) and, in text output,
 * replaces each such payload by the string "<encrypted: key kid>"; -o
 * json keeps the stored ciphertext, so that an exported history still
 * replays with the key (`--replay h.json --codec-key-file F`). */
void cli_codec_mask(const cli_ctx *ctx, cJSON *v);

/* ---- The HTTP API in `duro dev` (server/src/cli_server.c) ---- */

/* cli_dev_api_start serves the HTTP API on addr (NULL = 127.0.0.1:8233,
 * "off" = none) and prints its URL; NULL (after a warning) when it cannot.
 * cli_dev_api_stop stops it (NULL ignored). */
struct duro_server;
struct duro_server *cli_dev_api_start(const char *addr, const char *redis_url);
void cli_dev_api_stop(struct duro_server *s);

/* ---- Options (cli_opts.c) ---- */

/* cli_parse reads argv[0..argc) as options of ctx->opts plus the global
 * ones (--redis, -o/--output, -h/--help) into ctx. Stops at the first
 * non-option when stop_at_word (to find a command name) and returns its
 * index; otherwise a word is an error. Returns the index where parsing
 * stopped, or -1 after printing a usage error. Does not check required
 * options (cli_check_required does, so that --help works without them). */
int cli_parse(cli_ctx *ctx, int argc, char **argv, bool stop_at_word);
int cli_check_required(cli_ctx *ctx);

/* cli_get: the value of option `name`, or NULL when not given. */
const char *cli_get(const cli_ctx *ctx, const char *name);
/* cli_get_duration: parses a duration option into *ms (unchanged when the
 * option is absent). Returns 0 or -1 after printing a usage error. */
int cli_get_duration(const cli_ctx *ctx, const char *name, int64_t *ms);
/* cli_get_timeout: --timeout as cli_get_duration reads it, refusing 0: a
 * 0 that meant "the default" (10s, 30s) or "for ever" surprised. */
int cli_get_timeout(const cli_ctx *ctx, int64_t *ms);
/* cli_get_start_opts fills o (zeroed first) from the options every start
 * command takes: --workflow-id, --type, --task-queue, --execution-timeout,
 * --run-timeout, --task-timeout, --id-reuse-policy (not the input). Returns 0
 * or -1 after printing a usage error. */
int cli_get_start_opts(const cli_ctx *ctx, duro_start_opts *o);
/* cli_get_input: the JSON text of option `name`, or the content of the
 * file named by option `file_name` (- = stdin) in *owned (caller frees).
 * *input stays NULL when neither is given. Returns 0, or CLI_USAGE /
 * CLI_FAILED after printing why. */
int cli_get_input(const cli_ctx *ctx, const char *name, const char *file_name,
                  const char **input, char **owned);

/* cli_print_options prints an option table as help text. */
void cli_print_options(const cli_opt *opts);
void cli_print_global_options(void);

/* ---- Shared helpers (cli_out.c) ---- */

/* ---- Errors (cli_out.c) ----
 *
 * Errors go to stderr as "duro: <message>", or with -o json anywhere on
 * the command line as one line {"error":{"code":"NOT_FOUND","message":
 * "..."}}; the exit status is the same either way. */

/* cli_usage prints "<path>: <message>" and a pointer to --help; returns
 * CLI_USAGE. With -o json it prints the JSON error INVALID_ARGUMENT
 * instead (cli_usage_err: the code of err). */
int cli_usage(const cli_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int cli_usage_err(const cli_ctx *ctx, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* cli_json_errors: -o json was given (set by main before parsing). */
extern bool cli_json_errors;
/* cli_err_code: the JSON error code of a DURO_E* value (README "CLI errors
 * as JSON" is the table); "UNKNOWN" for 0 and anything else. */
const char *cli_err_code(int err);
/* cli_verror prints one error: "<prefix>: <message>" or the JSON form
 * with err's code. */
void cli_verror(int err, const char *prefix, const char *fmt, va_list ap);
/* cli_fail prints "duro: <message>" to stderr; returns CLI_FAILED.
 * cli_fail_err: the same with the DURO_E* code for JSON errors (cli_fail's
 * code is UNKNOWN). */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int cli_fail_err(int err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* cli_checked returns p, or when p is NULL (an allocation failed) reports
 * DURO_ENOMEM and exits with CLI_FAILED: output built without the memory
 * would be silently wrong, and a command has nothing to free. */
void *cli_checked(void *p);
/* cli_connect creates ctx->client; prints the reason on failure. Returns
 * 0 or CLI_FAILED. */
int cli_connect(cli_ctx *ctx);
/* cli_client_fail reports the client's last error for return code rc:
 * CLI_USAGE for invalid arguments, CLI_FAILED otherwise. */
int cli_client_fail(cli_ctx *ctx, int rc);
/* cli_print_json prints v indented, then a newline. */
void cli_print_json(const cJSON *v);
/* cli_print_owned prints v as JSON with -o json, else with text; frees v
 * and returns CLI_OK. */
int cli_print_owned(const cli_ctx *ctx, cJSON *v, void (*text)(const cJSON *));
/* cli_json_text: compact JSON text of v ("null" for NULL); the caller
 * frees. Exits when out of memory (cli_checked). */
char *cli_json_text(const cJSON *v);

/* cli_table: rows of strings printed in aligned columns. */
typedef struct {
    int ncols, nrows, cap;
    char **cells; /* row-major, owned */
} cli_table;
void cli_table_init(cli_table *t, int ncols, const char *const *headers);
void cli_table_add(cli_table *t, const char *const *cells);
void cli_table_print(const cli_table *t);
void cli_table_free(cli_table *t);

#endif
