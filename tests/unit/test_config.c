/* test_config.c: Redis URL parsing and environment lookups. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "duro/config.h"
#include "duro/errno.h"

TestSuite(config, .timeout = 5);

static duro_redis_url ok(const char *s)
{
    duro_redis_url u;
    char err[256] = "";
    cr_assert_eq(duro_redis_url_parse(s, &u, err, sizeof(err)), 0, "%s: %s",
                 s ? s : "(null)", err);
    return u;
}

static void bad(const char *s, const char *reason_part)
{
    duro_redis_url u;
    char err[256] = "";
    cr_assert_eq(duro_redis_url_parse(s, &u, err, sizeof(err)), DURO_EINVAL,
                 "accepted %s", s);
    if (reason_part) cr_assert(strstr(err, reason_part) != NULL, "%s", err);
}

Test(config, default_url)
{
    duro_redis_url u = ok(NULL);
    cr_assert_str_eq(u.host, "127.0.0.1");
    cr_assert_eq(u.port, 6379);
    cr_assert_eq(u.db, 0);
    cr_assert_str_eq(u.user, "");
    cr_assert_str_eq(u.password, "");
    u = ok("");
    cr_assert_eq(u.port, 6379);
}

Test(config, full_url)
{
    duro_redis_url u = ok("redis://alice:s3cret@redis.example:6380/2");
    cr_assert_str_eq(u.host, "redis.example");
    cr_assert_eq(u.port, 6380);
    cr_assert_str_eq(u.user, "alice");
    cr_assert_str_eq(u.password, "s3cret");
    cr_assert_eq(u.db, 2);
}

Test(config, password_only_and_encoded)
{
    duro_redis_url u = ok("redis://:p%40ss@h");
    cr_assert_str_eq(u.user, "");
    cr_assert_str_eq(u.password, "p@ss");
    cr_assert_eq(u.port, 6379);
    u = ok("redis://secret@h:7000");
    cr_assert_str_eq(u.user, "");
    cr_assert_str_eq(u.password, "secret");
    cr_assert_eq(u.port, 7000);
}

Test(config, host_port_without_scheme)
{
    duro_redis_url u = ok("10.0.0.5:7001");
    cr_assert_str_eq(u.host, "10.0.0.5");
    cr_assert_eq(u.port, 7001);
    u = ok("localhost");
    cr_assert_str_eq(u.host, "localhost");
    cr_assert_eq(u.port, 6379);
}

Test(config, ipv6_and_trailing_slash)
{
    duro_redis_url u = ok("redis://[::1]:6390/");
    cr_assert_str_eq(u.host, "::1");
    cr_assert_eq(u.port, 6390);
    cr_assert_eq(u.db, 0);
    u = ok("REDIS://h/15");
    cr_assert_eq(u.db, 15);
}

Test(config, rejects_unsupported_schemes)
{
    bad("unix:///tmp/redis.sock", "unix");
    bad("http://h:6379", "scheme");
}

static void clear_tls_env(void)
{
    unsetenv("DURO_REDIS_TLS_CA");
    unsetenv("DURO_REDIS_TLS_CERT");
    unsetenv("DURO_REDIS_TLS_KEY");
    unsetenv("DURO_REDIS_TLS_SERVER_NAME");
    unsetenv("DURO_REDIS_TLS_INSECURE");
}

Test(config, rediss_is_tls_with_settings_from_env)
{
    clear_tls_env();
    duro_redis_url u = ok("rediss://u:p@cache.example:6380/2");
    cr_assert_eq(u.tls, 1);
    cr_assert_str_eq(u.host, "cache.example");
    cr_assert_eq(u.port, 6380);
    cr_assert_eq(u.db, 2);
    cr_assert_eq(u.tls_insecure, 0);
    cr_assert_str_eq(u.tls_ca, "");
    setenv("DURO_REDIS_TLS_CA", "/etc/ca.pem", 1);
    setenv("DURO_REDIS_TLS_CERT", "/etc/c.pem", 1);
    setenv("DURO_REDIS_TLS_KEY", "/etc/c.key", 1);
    setenv("DURO_REDIS_TLS_SERVER_NAME", "redis.internal", 1);
    setenv("DURO_REDIS_TLS_INSECURE", "1", 1);
    u = ok("REDISS://h");
    cr_assert_eq(u.tls, 1);
    cr_assert_str_eq(u.tls_ca, "/etc/ca.pem");
    cr_assert_str_eq(u.tls_cert, "/etc/c.pem");
    cr_assert_str_eq(u.tls_key, "/etc/c.key");
    cr_assert_str_eq(u.tls_server_name, "redis.internal");
    cr_assert_eq(u.tls_insecure, 1);
    /* redis:// ignores them: plain TCP stays plain */
    u = ok("redis://h");
    cr_assert_eq(u.tls, 0);
    cr_assert_str_eq(u.tls_ca, "");
    unsetenv("DURO_REDIS_TLS_KEY");
    bad("rediss://h", "DURO_REDIS_TLS_KEY");
    clear_tls_env();
    /* only 1 turns verification off; anything but 0 or 1 is refused */
    setenv("DURO_REDIS_TLS_INSECURE", "false", 1);
    bad("rediss://h", "DURO_REDIS_TLS_INSECURE");
    setenv("DURO_REDIS_TLS_INSECURE", "0", 1);
    cr_assert_eq(ok("rediss://h").tls_insecure, 0);
    clear_tls_env();
}

Test(config, rejects_bad_ports_and_dbs)
{
    bad("redis://h:0", "port");
    bad("redis://h:65536", "port");
    bad("redis://h:", "port");
    bad("redis://h:abc", "port");
    bad("redis://h:-1", "port");
    bad("redis://h:6379/x", "database");
    bad("redis://h:6379/-1", "database");
    bad("redis://h:6379/1/2", "database");
    bad("redis://h:6379/1?x=y", "query options");
    bad("redis://[::1", "ipv6");
    bad("redis://:p%4@h", "password");
    bad("redis://h o:1", "host");
}

Test(config, env_lookup)
{
    setenv("DURO_TEST_X", "v", 1);
    cr_assert_str_eq(duro_env("DURO_TEST_X", "d"), "v");
    setenv("DURO_TEST_X", "", 1);
    cr_assert_str_eq(duro_env("DURO_TEST_X", "d"), "d");
    unsetenv("DURO_TEST_X");
    cr_assert_str_eq(duro_env("DURO_TEST_X", "d"), "d");
    unsetenv("DURO_REDIS_URL");
    cr_assert_str_eq(duro_redis_url_default(), DURO_DEFAULT_REDIS_URL);
    setenv("DURO_REDIS_URL", "redis://x:1", 1);
    cr_assert_str_eq(duro_redis_url_default(), "redis://x:1");
}

/* ---- Passwords kept off the command line ---- */

static void clear_password_env(void)
{
    unsetenv("DURO_REDIS_PASSWORD");
    unsetenv("DURO_REDIS_PASSWORD_FILE");
}

static void write_file(const char *path, const char *content, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(content, 1, n, f), n);
    fclose(f);
}

Test(config, password_from_the_environment)
{
    clear_password_env();
    setenv("DURO_REDIS_PASSWORD", "s3cret", 1);
    duro_redis_url u = ok("redis://127.0.0.1:6380");
    cr_assert_str_eq(u.password, "s3cret");
    cr_assert_str_eq(u.user, "");
    /* a password in the URL wins */
    u = ok("redis://:inurl@127.0.0.1:6380");
    cr_assert_str_eq(u.password, "inurl");
    clear_password_env();
}

Test(config, password_file_strips_one_trailing_newline_and_wins_over_env)
{
    clear_password_env();
    char path[] = "/tmp/duro-pw-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    write_file(path, "from-file\n", 10);
    setenv("DURO_REDIS_PASSWORD_FILE", path, 1);
    setenv("DURO_REDIS_PASSWORD", "from-env", 1);
    duro_redis_url u = ok("redis://alice:@127.0.0.1");
    cr_assert_str_eq(u.user, "alice");
    cr_assert_str_eq(u.password, "from-file");
    write_file(path, "crlf\r\n", 6);
    u = ok(NULL);
    cr_assert_str_eq(u.password, "crlf");
    write_file(path, "two\n\n", 5); /* only one newline is ours to strip */
    u = ok(NULL);
    cr_assert_str_eq(u.password, "two\n");
    write_file(path, "", 0);
    bad(NULL, "empty");
    unlink(path);
    bad(NULL, "DURO_REDIS_PASSWORD_FILE");
    /* it used to say "read error" */
    setenv("DURO_REDIS_PASSWORD_FILE", "/", 1);
    bad(NULL, "DURO_REDIS_PASSWORD_FILE /: Is a directory");
    clear_password_env();
}

Test(config, errors_and_redaction_never_show_the_password)
{
    clear_password_env();
    duro_redis_url u;
    char err[256] = "";
    cr_assert_eq(duro_redis_url_parse("redis://bob:hunter2@host:99999", &u, err,
                                      sizeof(err)),
                 DURO_EINVAL);
    cr_assert_null(strstr(err, "hunter2"), "%s", err);
    cr_assert(strstr(err, "redis://bob:***@host:99999") != NULL, "%s", err);
    char buf[128];
    cr_assert_str_eq(
        duro_redis_url_redact("redis://:pw@h:1/2", buf, sizeof(buf)),
        "redis://:***@h:1/2");
    cr_assert_str_eq(duro_redis_url_redact("redis://pw@h", buf, sizeof(buf)),
                     "redis://***@h");
    cr_assert_str_eq(duro_redis_url_redact("redis://h:6379", buf, sizeof(buf)),
                     "redis://h:6379");
    cr_assert_str_eq(duro_redis_url_redact("u:p@h", buf, sizeof(buf)),
                     "u:***@h");
}

Test(config, redis_wait_from_env)
{
    unsetenv("DURO_REDIS_WAIT");
    unsetenv("DURO_REDIS_WAIT_TIMEOUT");
    duro_redis_url u = ok("redis://h:1");
    cr_assert_eq(u.wait_replicas, 0);
    cr_assert_eq(u.wait_timeout_ms, DURO_REDIS_WAIT_TIMEOUT_MS);
    setenv("DURO_REDIS_WAIT", "2", 1);
    setenv("DURO_REDIS_WAIT_TIMEOUT", "250ms", 1);
    u = ok("redis://h:1");
    cr_assert_eq(u.wait_replicas, 2);
    cr_assert_eq(u.wait_timeout_ms, 250);
    setenv("DURO_REDIS_WAIT", "two", 1);
    bad("redis://h:1", "DURO_REDIS_WAIT");
    setenv("DURO_REDIS_WAIT", "-1", 1);
    bad("redis://h:1", "DURO_REDIS_WAIT");
    setenv("DURO_REDIS_WAIT", "1", 1);
    setenv("DURO_REDIS_WAIT_TIMEOUT", "soon", 1);
    bad("redis://h:1", "DURO_REDIS_WAIT_TIMEOUT");
    unsetenv("DURO_REDIS_WAIT");
    unsetenv("DURO_REDIS_WAIT_TIMEOUT");
}

Test(config, sentinel_urls)
{
    duro_redis_url u =
        ok("redis+sentinel://:pw@10.0.0.1:26380,s2,s3:5/mymaster/2");
    cr_assert_eq(u.sentinels, 3);
    cr_assert_str_eq(u.sentinel[0].host, "10.0.0.1");
    cr_assert_eq(u.sentinel[0].port, 26380);
    cr_assert_str_eq(u.sentinel[1].host, "s2");
    cr_assert_eq(u.sentinel[1].port, 26379);
    cr_assert_eq(u.sentinel[2].port, 5);
    cr_assert_str_eq(u.sentinel_master, "mymaster");
    cr_assert_eq(u.db, 2);
    cr_assert_str_eq(u.password, "pw");
    cr_assert_eq(u.tls, 0);
    /* until resolved, the first sentinel stands in for the master */
    cr_assert_str_eq(u.host, "10.0.0.1");
    u = ok("redis://h:1");
    cr_assert_eq(u.sentinels, 0);
    bad("redis+sentinel://s1:26379", "master's name");
    bad("redis+sentinel://s1:26379/", "master's name");
    bad("redis+sentinel://s1:0/m", "port");
    bad("redis+sentinel://,s2/m", "host");
    bad("redis+sentinel://a,b,c,d,e,f,g,h,i/m", "more than 8");
    bad("redis+sentinel://s1/m/x", "database");
    /* found by fuzzing: no sentinel before the master's name */
    bad("redis+sentinel:///mymaster", "at least one sentinel");
    bad("redis+sentinel://u:p@/m", "at least one sentinel");
}

/* a query string used to be read as part of the port or the database, and
 * the message blamed those */
Test(config, query_options_are_refused_by_name)
{
    bad("redis://h:6379?db=1", "query options");
    bad("redis://h?timeout=1s", "query options");
    bad("rediss://h:6379/0?ssl_cert_reqs=none", "query options");
    bad("redis+sentinel://s1:26379/m?x=1", "query options");
    bad("redis+cluster://a:1,b:2?x=1", "query options");
    bad("redis://h:6379#frag", "query options");
    /* a '?' in the password is not a query */
    duro_redis_url u = ok("redis://:p?w@h:1");
    cr_assert_str_eq(u.password, "p?w");
}

/* %00 in the userinfo used to end the password there, silently */
Test(config, percent_00_in_user_or_password_is_refused)
{
    clear_password_env();
    bad("redis://:ab%00cd@h:1", "password");
    bad("redis://u%00x:pw@h:1", "password");
    duro_redis_url u = ok("redis://a%40b:p%25w%3A@h:1");
    cr_assert_str_eq(u.user, "a@b");
    cr_assert_str_eq(u.password, "p%w:");
}

/* a sentinel or seed given as [ipv6]:port used to fail as a bad port */
Test(config, sentinels_and_seeds_take_bracketed_ipv6)
{
    duro_redis_url u = ok("redis+sentinel://[::1]:26380,[fe80::2],s3/m");
    cr_assert_eq(u.sentinels, 3);
    cr_assert_str_eq(u.sentinel[0].host, "::1");
    cr_assert_eq(u.sentinel[0].port, 26380);
    cr_assert_str_eq(u.sentinel[1].host, "fe80::2");
    cr_assert_eq(u.sentinel[1].port, 26379);
    cr_assert_str_eq(u.sentinel[2].host, "s3");
    u = ok("redis+cluster://[::1]:7000,[::1]:7001");
    cr_assert_eq(u.seeds, 2);
    cr_assert_str_eq(u.seed[1].host, "::1");
    cr_assert_eq(u.seed[1].port, 7001);
    bad("redis+sentinel://[::1/m", "ipv6");
    bad("redis+sentinel://[::1]x/m", "ipv6");
    bad("redis+sentinel://[]:1/m", "host");
    bad("redis+cluster://[::1]:0", "port");
    bad("redis+sentinel://s 1:26379/m", "host");
}
