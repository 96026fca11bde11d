/* test_http_slow.c: `duro server` against clients that send their request
 * slowly (slowloris): libmicrohttpd closes only idle connections, so a
 * client sending its headers, or its body, a byte a second held a
 * connection and its thread for as long as it liked, and --max-connections
 * of them kept everyone else out. --header-timeout and --body-timeout
 * bound them; --max-connections-per-ip bounds one address. */
#include <dirent.h>
#include <errno.h>

#include "http_client.h"

TestSuite(http_slow, .init = setup, .fini = duro_test_fini, .timeout = 120);

#define SLOW 4 /* the slow clients, as many as --max-connections */

/* entries: the entries of /proc/<pid>/<what> (its threads or its fds). */
static int entries(pid_t pid, const char *what)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
    DIR *d = opendir(path);
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* gone: the server closed fd (end of stream or reset, without waiting). */
static bool gone(int fd)
{
    char b[512];
    ssize_t n = recv(fd, b, sizeof(b), MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

/* slow_clients connects SLOW clients that send head, then a byte a
 * second for at most 30s, until the server has closed them all; returns
 * how many it closed. Without a deadline none is closed: a byte a second
 * is never idle for libmicrohttpd's 90s. */
static int slow_clients(int port, int fds[SLOW], const char *head)
{
    for (int i = 0; i < SLOW; i++) {
        fds[i] = connect_to(port);
        cr_assert(fds[i] >= 0);
        cr_assert_eq(send(fds[i], head, strlen(head), MSG_NOSIGNAL),
                     (ssize_t)strlen(head));
    }
    int closed = 0;
    bool done[SLOW] = {0};
    for (int sec = 0; sec < 30 && closed < SLOW; sec++) {
        duro_test_sleep_ms(1000);
        for (int i = 0; i < SLOW; i++) {
            if (done[i]) continue;
            if (gone(fds[i]) || send(fds[i], "a", 1, MSG_NOSIGNAL) != 1) {
                done[i] = true;
                closed++;
            }
        }
    }
    return closed;
}

/* serves: a normal request is answered (the slots are free again). */
static bool serves(int port)
{
    return duro_test_wait_until(
        duro_test_http_get(port, "/healthz", NULL, 0) == 200, 10000);
}

/* settled: the server's threads and fds once they stay the same for
 * 200ms (the connection of start_server's /healthz may still be closing). */
static void settled(int base[2])
{
    for (int i = 0; i < 25; i++) {
        base[0] = entries(server_pid, "task");
        base[1] = entries(server_pid, "fd");
        duro_test_sleep_ms(200);
        if (entries(server_pid, "task") == base[0] &&
            entries(server_pid, "fd") == base[1])
            break;
    }
    cr_assert(base[0] > 0 && base[1] > 0);
}

/* idle: the server's threads and fds are back to base (or below). */
static bool idle(const int base[2])
{
    return duro_test_wait_until(entries(server_pid, "task") <= base[0] &&
                                    entries(server_pid, "fd") <= base[1],
                                10000);
}

Test(http_slow, slow_headers_are_cut_off_and_the_server_serves_again)
{
    const char *const ARGS[] = {"--max-connections", "4", "--header-timeout",
                                "2s", NULL};
    int port = start_server(ARGS);
    int base[2];
    settled(base);
    int fds[SLOW];
    /* the headers never end: a header line a byte a second */
    int closed =
        slow_clients(port, fds, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ");
    cr_expect_eq(closed, SLOW, "%d of %d slow clients closed in 30s", closed,
                 SLOW);
    cr_expect(serves(port), "the slow clients keep the server from serving");
    for (int i = 0; i < SLOW; i++)
        close(fds[i]);
    cr_expect(idle(base), "threads %d (were %d), fds %d (were %d)",
              entries(server_pid, "task"), base[0], entries(server_pid, "fd"),
              base[1]);
    char text[16384];
    cr_expect_eq(duro_test_http_get(port, "/metrics", text, sizeof(text)), 200);
    cr_expect(strstr(text, "duro_http_slow_connections_closed_total{part="
                           "\"headers\"} 4"),
              "%s", text);
    cr_expect(duro_test_log_contains(&h, server_pid, "HTTP SLOW-CLIENT"));
    duro_test_finish(&h);
}

Test(http_slow, a_slow_body_is_cut_off)
{
    const char *const ARGS[] = {"--max-connections", "4", "--body-timeout",
                                "2s", NULL};
    int port = start_server(ARGS);
    int base[2];
    settled(base);
    int fds[SLOW];
    int closed = slow_clients(port, fds,
                              "POST " NS "/workflows/slow HTTP/1.1\r\n"
                              "Host: x\r\nContent-Length: 1000\r\n\r\n{");
    cr_expect_eq(closed, SLOW, "%d of %d slow clients closed in 30s", closed,
                 SLOW);
    cr_expect(serves(port), "the slow clients keep the server from serving");
    for (int i = 0; i < SLOW; i++)
        close(fds[i]);
    cr_expect(idle(base), "threads %d (were %d), fds %d (were %d)",
              entries(server_pid, "task"), base[0], entries(server_pid, "fd"),
              base[1]);
    duro_test_finish(&h);
}

/* read_answer reads one answer of a kept-alive connection (its head and
 * Content-Length bytes of body) into buf; false when it does not come. */
static bool read_answer(int fd, char *buf, size_t size)
{
    size_t got = 0;
    buf[0] = '\0';
    for (int i = 0; i < 100 && got + 1 < size; i++) {
        ssize_t n = recv(fd, buf + got, size - got - 1, 0);
        if (n <= 0) return false;
        got += (size_t)n;
        buf[got] = '\0';
        const char *end = strstr(buf, "\r\n\r\n");
        const char *len = strstr(buf, "Content-Length: ");
        if (end && len &&
            got >= (size_t)(end + 4 - buf) + strtoul(len + 16, NULL, 10))
            return true;
    }
    return false;
}

/* A request whose headers and body come in time is served, also the
 * second on a kept-alive connection. */
Test(http_slow, requests_in_time_are_served_on_a_kept_alive_connection)
{
    const char *const ARGS[] = {"--header-timeout", "2s", NULL};
    int port = start_server(ARGS);
    int fd = connect_to(port);
    cr_assert(fd >= 0);
    static const char REQ[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    for (int i = 0; i < 2; i++) {
        if (i) duro_test_sleep_ms(3000); /* idle past --header-timeout */
        cr_assert_eq(send(fd, REQ, sizeof(REQ) - 1, MSG_NOSIGNAL),
                     (ssize_t)sizeof(REQ) - 1);
        char buf[4096];
        cr_assert(read_answer(fd, buf, sizeof(buf)), "request %d: %s", i + 1,
                  buf);
        cr_expect(strncmp(buf, "HTTP/1.1 200", 12) == 0, "%s", buf);
    }
    close(fd);
    duro_test_finish(&h);
}

Test(http_slow, connections_per_ip_are_capped_when_asked)
{
    const char *const ARGS[] = {"--max-connections-per-ip", "2", NULL};
    int port = start_server(ARGS);
    int a = connect_to(port), b = connect_to(port);
    cr_assert(a >= 0 && b >= 0);
    cr_expect(duro_test_wait_until(
                  duro_test_http_get(port, "/healthz", NULL, 0) != 200, 5000),
              "a third connection from 127.0.0.1 was served");
    close(a);
    cr_expect(serves(port));
    close(b);
    duro_test_finish(&h);
}

Test(http_slow, a_zero_timeout_is_a_usage_error)
{
    duro_test_output o;
    duro_test_run(&h, &o, 10000, "duro", "server", "--http", "127.0.0.1:0",
                  "--header-timeout", "0s", NULL);
    cr_expect_neq(o.exit_code, 0);
    cr_expect(strstr(o.err, "above 0"), "%s", o.err);
    duro_test_output_free(&o);
    duro_test_finish(&h);
}
