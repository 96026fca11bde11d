/* bell.c: a loop's bell, rung from other threads (bell.h).
 *
 *   ring (any thread)            answer (loop thread, readable)
 *   ───────────────────          ──────────────────────────────
 *   exchange(rung, 1) == 0 ──▶   read the descriptor empty
 *     └─ write(8 bytes)          store(rung, 0)
 *                                cb(b)
 *
 * The loop empties the descriptor before it clears `rung`, so a ring that
 * sees 1 always has a write ahead of it that the loop has not answered
 * yet (no ring is lost), and a ring after the clear writes again (at
 * worst one wake-up more, whose cb finds nothing). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include "bell.h"

#ifdef __linux__
#include <sys/eventfd.h>
#endif

static void drain(int fd)
{
    char buf[64];
    while (read(fd, buf, sizeof(buf)) > 0 || errno == EINTR)
        ;
}

static void on_readable(uv_poll_t *h, int status, int events)
{
    duro__bell *b = h->data;
    drain(b->rfd);
    atomic_store(&b->rung, 0);
    b->answered++;
    b->cb(b);
}

static int open_fds(duro__bell *b)
{
#ifdef __linux__
    b->rfd = b->wfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (b->rfd >= 0) return 0;
#endif
    int fds[2];
    if (pipe(fds) != 0) return -1;
    for (int i = 0; i < 2; i++) {
        (void)fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
        (void)fcntl(fds[i], F_SETFD, FD_CLOEXEC);
    }
    b->rfd = fds[0];
    b->wfd = fds[1];
    return 0;
}

static void close_fds(duro__bell *b)
{
    if (b->wfd != b->rfd) close(b->wfd);
    close(b->rfd);
}

int duro__bell_init(uv_loop_t *loop, duro__bell *b, duro__bell_cb cb)
{
    atomic_init(&b->rung, 0);
    b->cb = cb;
    b->closed = NULL;
    b->answered = 0;
    if (open_fds(b) != 0) return -1;
    b->poll.data = b;
    if (uv_poll_init(loop, &b->poll, b->rfd) != 0) {
        close_fds(b);
        return -1;
    }
    /* cannot fail here: libuv refuses only unknown events or a closing
     * handle (the descriptor joins epoll at the next loop turn) */
    (void)uv_poll_start(&b->poll, UV_READABLE, on_readable);
    return 0;
}

void duro__bell_ring(duro__bell *b)
{
    if (atomic_exchange(&b->rung, 1) != 0) return; /* a write is ahead */
    static const uint64_t one = 1;
    ssize_t n;
    do
        n = write(b->wfd, &one, b->wfd == b->rfd ? sizeof(one) : 1);
    while (n < 0 && errno == EINTR);
    /* EAGAIN: a full pipe or eventfd counter is readable already */
}

bool duro__bell_heard(const duro__bell *b)
{
    struct pollfd pfd = {.fd = b->rfd, .events = POLLIN};
    return poll(&pfd, 1, 0) == 1;
}

static void on_closed(uv_handle_t *h)
{
    duro__bell *b = h->data;
    close_fds(b);
    if (b->closed) b->closed(b);
}

void duro__bell_close(duro__bell *b, duro__bell_cb closed)
{
    b->closed = closed;
    uv_close((uv_handle_t *)&b->poll, on_closed);
}
