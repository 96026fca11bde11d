/* harness_tls.c: a TLS-only redis-server for the integration tests: the
 * certificates (openssl, once per test process), the server's arguments,
 * and the harness's own connections to it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "duro/config.h"
#include "duro/redis.h"
#include "harness.h"

/* The certificates: a CA, the server's (for 127.0.0.1 and localhost), one
 * for another name signed by the same CA, a client's, and a second CA
 * (other-ca) with a server certificate of its own (foreign). EC keys:
 * generating them takes milliseconds. */
static const char gen_script[] =
    "set -e; cd \"$1\"; k='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
    "-nodes'\n"
    "openssl req -x509 $k -keyout ca.key -out ca.crt -days 2 "
    "-subj /CN=duro-test-ca\n"
    "openssl req -x509 $k -keyout other-ca.key -out other-ca.crt -days 2 "
    "-subj /CN=duro-test-other-ca\n"
    "sign() { openssl req $k -keyout $2.key -out $2.csr -subj /CN=$3;"
    " printf '%s\\n' \"$4\" > $2.ext;"
    " openssl x509 -req -in $2.csr -CA $1.crt -CAkey $1.key -CAcreateserial"
    " -out $2.crt -days 2 -extfile $2.ext; }\n"
    "san='subjectAltName=DNS:localhost,IP:127.0.0.1'\n"
    "sign ca server localhost $san\n"
    "sign other-ca foreign localhost $san\n"
    "sign ca other-name other.example 'subjectAltName=DNS:other.example'\n"
    "sign ca client duro-test-client 'extendedKeyUsage=clientAuth'\n"
    "cat ca.crt other-ca.crt > harness-ca.crt\n";

/* run_sh runs `sh script arg`, output to log; its exit code or -1. */
static int run_sh(const char *script, const char *arg, const char *log)
{
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
        }
        execl("/bin/sh", "sh", script, arg, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

char *duro_test_tls_file(const duro_test_harness *h, const char *name,
                         char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s/%s", h->tls_dir, name);
    cr_assert(n > 0 && (size_t)n < size, "path too long: %s", name);
    return buf;
}

void duro__test_tls_prepare(duro_test_harness *h)
{
    int n = snprintf(h->tls_dir, sizeof(h->tls_dir), "%s/tls", h->dir);
    cr_assert(n > 0 && (size_t)n < sizeof(h->tls_dir), "path too long");
    cr_assert(mkdir(h->tls_dir, 0700) == 0, "mkdir %s: %s", h->tls_dir,
              strerror(errno));
    char script[PATH_MAX + 32], log[PATH_MAX + 32];
    duro_test_tls_file(h, "gen.sh", script, sizeof(script));
    duro_test_tls_file(h, "gen.log", log, sizeof(log));
    FILE *f = fopen(script, "w");
    cr_assert(f, "%s: %s", script, strerror(errno));
    fputs(gen_script, f);
    fclose(f);
    cr_assert_eq(run_sh(script, h->tls_dir, log), 0,
                 "generating the test certificates failed (see %s/gen.log; "
                 "is openssl installed?)",
                 h->tls_dir);
    char p[PATH_MAX + 32];
    setenv("DURO_REDIS_TLS_CA", duro_test_tls_file(h, "ca.crt", p, sizeof(p)),
           1);
    setenv("DURO_REDIS_TLS_CERT",
           duro_test_tls_file(h, "client.crt", p, sizeof(p)), 1);
    setenv("DURO_REDIS_TLS_KEY",
           duro_test_tls_file(h, "client.key", p, sizeof(p)), 1);
    unsetenv("DURO_REDIS_TLS_SERVER_NAME");
    unsetenv("DURO_REDIS_TLS_INSECURE");
}

int duro__test_tls_args(duro_test_harness *h, const char *port, char **argv)
{
    /* static: argv outlives this call (the child is spawned after it) */
    static char cert[PATH_MAX + 32], key[PATH_MAX + 32], ca[PATH_MAX + 32];
    char name[sizeof(h->tls_server) + 8];
    snprintf(name, sizeof(name), "%s.crt", h->tls_server);
    duro_test_tls_file(h, name, cert, sizeof(cert));
    snprintf(name, sizeof(name), "%s.key", h->tls_server);
    duro_test_tls_file(h, name, key, sizeof(key));
    duro_test_tls_file(h, "ca.crt", ca, sizeof(ca));
    int n = 0;
    argv[n++] = "--tls-port";
    argv[n++] = (char *)port;
    argv[n++] = "--tls-cert-file";
    argv[n++] = cert;
    argv[n++] = "--tls-key-file";
    argv[n++] = key;
    argv[n++] = "--tls-ca-cert-file";
    argv[n++] = ca;
    argv[n++] = "--tls-auth-clients";
    argv[n++] = h->tls_auth;
    return n;
}

redisContext *duro__test_tls_connect(const duro_test_harness *h, int timeout_ms)
{
    char url[64], err[256];
    snprintf(url, sizeof(url), "rediss://127.0.0.1:%d", h->redis_port);
    duro_redis_url u;
    if (duro_redis_url_parse(url, &u, err, sizeof(err)) != 0) return NULL;
    /* Whichever certificate the test made the server present, the harness
     * verifies it: both CAs, and the name of the "other-name" one. */
    duro_test_tls_file(h, "harness-ca.crt", u.tls_ca, sizeof(u.tls_ca));
    duro_test_tls_file(h, "client.crt", u.tls_cert, sizeof(u.tls_cert));
    duro_test_tls_file(h, "client.key", u.tls_key, sizeof(u.tls_key));
    strcpy(u.tls_server_name,
           strcmp(h->tls_server, "other-name") == 0 ? "other.example" : "");
    u.tls_insecure = 0;
    redisContext *c = NULL;
    duro_redis_open(&u, timeout_ms, &c, err, sizeof(err));
    return c;
}

void duro_test_redis_start_tls(duro_test_harness *h,
                               const duro_test_tls_opts *o)
{
    memset(h, 0, sizeof(*h));
    h->tls = true;
    snprintf(h->tls_auth, sizeof(h->tls_auth), "%s",
             o && o->auth_clients ? o->auth_clients : "optional");
    snprintf(h->tls_server, sizeof(h->tls_server), "%s",
             o && o->server_cert ? o->server_cert : "server");
    duro__test_redis_start_as_set(h);
}
