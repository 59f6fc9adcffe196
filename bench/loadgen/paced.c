/* paced: an open-loop HTTP/1.1 load generator that measures latency without coordinated omission.
 *
 * Requests are scheduled at a fixed rate (request i at start + i / rate) no matter how the server
 * is doing. A due request goes out on the first idle keep-alive connection; if none is idle it
 * waits in line, and its latency is still counted from its scheduled time (as wrk2 does), so a
 * stalled server shows up in the tail instead of silently slowing the generator down.
 *
 * Every request is a distinct notification: the body comes from a template (one per line of the
 * templates file) in which the 20-character uuid marker and the 32-character session marker are
 * replaced by digits that are unique per request (uuid) and per group of `--group` requests
 * (session). Request i uses template i % T, so T templates make T-event sessions.
 *
 *   paced --url http://127.0.0.1:8000/webhooks/ringcentral --rate 5000 --duration 10
 *         --connections 64 --templates bodies.txt --group 1 --nonce 1234 --warmup 2
 *         --header "Verification-Token: x"
 *
 * Prints one JSON object: counts, achieved rate and latency percentiles in milliseconds
 * (requests scheduled during the warm-up are sent but not recorded).
 *
 * Build: cc -O2 -o paced paced.c -lm   (Linux: epoll, epoll_pwait2 when available)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define UUID_MARK "UUUUUUUUUUUUUUUUUUUU"
#define UUID_LEN 20
#define SESSION_MARK "SSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSS"
#define SESSION_LEN 32
#define MAX_MARKS 16
#define RBUF 65536

typedef struct {
    char *bytes;
    size_t length;
    size_t uuid_at[MAX_MARKS];
    int uuids;
    size_t session_at[MAX_MARKS];
    int sessions;
} template_t;

typedef struct {
    int fd;
    int busy;
    char *wbuf;
    size_t wlen, woff;
    char rbuf[RBUF];
    size_t rlen;
    double scheduled;
    long index;
} conn_t;

typedef struct {
    conn_t **slots;
    int size, head, count;
} ring_t;

static void ring_push(ring_t *r, conn_t *c) { r->slots[(r->head + r->count++) % r->size] = c; }

static conn_t *ring_pop(ring_t *r) {
    conn_t *c = r->slots[r->head];
    r->head = (r->head + 1) % r->size;
    r->count--;
    return c;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what) {
    perror(what);
    exit(2);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static char *read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) die(path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = malloc((size_t)n + 1);
    if (fread(data, 1, (size_t)n, f) != (size_t)n) die("read templates");
    data[n] = 0;
    fclose(f);
    *size = (size_t)n;
    return data;
}

static void find_marks(const char *bytes, size_t length, const char *mark, size_t mark_len,
                       size_t *at, int *count) {
    *count = 0;
    const char *p = bytes;
    while ((p = memmem(p, length - (size_t)(p - bytes), mark, mark_len)) != NULL) {
        if (*count == MAX_MARKS) {
            fprintf(stderr, "too many markers in a template\n");
            exit(2);
        }
        at[(*count)++] = (size_t)(p - bytes);
        p += mark_len;
    }
}

static int open_connection(struct sockaddr_in *address, int epoll_fd, conn_t *c) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) die("socket");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)address, sizeof *address) < 0 && errno != EINPROGRESS)
        die("connect");
    c->fd = fd;
    c->busy = 0;
    c->rlen = 0;
    c->wlen = c->woff = 0;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = c};
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl");
    return fd;
}

/* Write what is left of the connection's request; 0 on success or EAGAIN, -1 on error. */
static int flush_write(conn_t *c) {
    while (c->woff < c->wlen) {
        ssize_t n = write(c->fd, c->wbuf + c->woff, c->wlen - c->woff);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
            return -1;
        }
        c->woff += (size_t)n;
    }
    return 0;
}

/* If rbuf holds a whole response: its status, and the bytes it used in *used. Else 0. */
static int parse_response(conn_t *c, size_t *used) {
    char *end = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
    if (!end) return 0;
    size_t header_len = (size_t)(end - c->rbuf) + 4;
    int status = 0;
    if (c->rlen >= 12) status = atoi(c->rbuf + 9);
    long content_length = 0;
    for (char *line = c->rbuf; line < end;) {
        char *eol = memmem(line, (size_t)(end - line) + 2, "\r\n", 2);
        if (!eol) break;
        if ((size_t)(eol - line) > 15 && strncasecmp(line, "content-length:", 15) == 0)
            content_length = atol(line + 15);
        line = eol + 2;
    }
    if (c->rlen < header_len + (size_t)content_length) return 0;
    *used = header_len + (size_t)content_length;
    return status ? status : 1;
}

static void usage(void) {
    fprintf(stderr,
            "usage: paced --url URL --rate R --duration S --connections C --templates FILE\n"
            "             [--group G] [--nonce N] [--warmup S] [--header 'Name: value']...\n");
    exit(2);
}

int main(int argc, char **argv) {
    const char *url = NULL, *templates_path = NULL;
    double rate = 0, duration = 0, warmup = 0;
    int connections = 64;
    long group = 1, nonce = 0;
    char headers[4096] = "";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc) usage();
        const char *v = argv[++i];
        if (!strcmp(a, "--url")) url = v;
        else if (!strcmp(a, "--rate")) rate = atof(v);
        else if (!strcmp(a, "--duration")) duration = atof(v);
        else if (!strcmp(a, "--warmup")) warmup = atof(v);
        else if (!strcmp(a, "--connections")) connections = atoi(v);
        else if (!strcmp(a, "--templates")) templates_path = v;
        else if (!strcmp(a, "--group")) group = atol(v);
        else if (!strcmp(a, "--nonce")) nonce = atol(v) % 10000;
        else if (!strcmp(a, "--header")) {
            strncat(headers, v, sizeof headers - strlen(headers) - 3);
            strcat(headers, "\r\n");
        } else usage();
    }
    if (!url || !templates_path || rate <= 0 || duration <= 0 || connections < 1 || group < 1)
        usage();
    signal(SIGPIPE, SIG_IGN);

    char host[256];
    int port = 80;
    const char *path = "/";
    if (strncmp(url, "http://", 7) != 0) usage();
    const char *hp = url + 7;
    const char *slash = strchr(hp, '/');
    size_t hlen = slash ? (size_t)(slash - hp) : strlen(hp);
    if (hlen >= sizeof host) usage();
    memcpy(host, hp, hlen);
    host[hlen] = 0;
    if (slash) path = slash;
    char *colon = strchr(host, ':');
    if (colon) {
        *colon = 0;
        port = atoi(colon + 1);
    }
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &address.sin_addr) != 1) {
        fprintf(stderr, "host must be an IPv4 address\n");
        return 2;
    }

    /* Templates: one body per line, turned into whole HTTP requests. */
    size_t file_size;
    char *file = read_file(templates_path, &file_size);
    template_t *templates = NULL;
    int template_count = 0;
    for (char *line = strtok(file, "\n"); line; line = strtok(NULL, "\n")) {
        size_t body_len = strlen(line);
        if (!body_len) continue;
        templates = realloc(templates, sizeof *templates * (size_t)(template_count + 1));
        template_t *t = &templates[template_count++];
        char head[8192];
        int head_len = snprintf(head, sizeof head,
                                "POST %s HTTP/1.1\r\nHost: %s:%d\r\n"
                                "Content-Type: application/json\r\n%sContent-Length: %zu\r\n\r\n",
                                path, host, port, headers, body_len);
        t->length = (size_t)head_len + body_len;
        t->bytes = malloc(t->length);
        memcpy(t->bytes, head, (size_t)head_len);
        memcpy(t->bytes + head_len, line, body_len);
        find_marks(t->bytes, t->length, UUID_MARK, UUID_LEN, t->uuid_at, &t->uuids);
        find_marks(t->bytes, t->length, SESSION_MARK, SESSION_LEN, t->session_at, &t->sessions);
        if (t->uuids == 0) {
            fprintf(stderr, "a template has no uuid marker\n");
            return 2;
        }
    }
    if (template_count == 0) {
        fprintf(stderr, "no templates\n");
        return 2;
    }

    long total = (long)((warmup + duration) * rate);
    long warm = (long)(warmup * rate);
    double *latency = malloc(sizeof(double) * (size_t)(total > 0 ? total : 1));
    long recorded = 0, completed = 0, non2xx = 0, errors = 0, next = 0;
    double period = 1.0 / rate;

    int epoll_fd = epoll_create1(0);
    if (epoll_fd < 0) die("epoll_create1");
    conn_t *conns = calloc((size_t)connections, sizeof *conns);
    size_t max_len = 0;
    for (int t = 0; t < template_count; t++)
        if (templates[t].length > max_len) max_len = templates[t].length;
    /* Idle connections wait in a FIFO ring, so every connection stays in use (a connection left
     * idle for seconds would be closed by the server's keep-alive timeout). */
    ring_t idle = {.slots = malloc(sizeof(conn_t *) * (size_t)connections), .size = connections};
    for (int i = 0; i < connections; i++) {
        conns[i].wbuf = malloc(max_len);
        open_connection(&address, epoll_fd, &conns[i]);
        ring_push(&idle, &conns[i]);
    }

    struct epoll_event events[256];
    double start = now_s() + 0.05;
    double deadline = start + warmup + duration + 10.0; /* drain for at most 10 s */
    char digits[64];
    while (completed + errors < total) {
        double now = now_s();
        if (now > deadline) break;
        /* Send every due request that has an idle connection. */
        while (next < total && idle.count > 0 && start + (double)next * period <= now) {
            conn_t *c = ring_pop(&idle);
            template_t *t = &templates[next % template_count];
            memcpy(c->wbuf, t->bytes, t->length);
            snprintf(digits, sizeof digits, "%04ld%016ld", nonce, next);
            for (int m = 0; m < t->uuids; m++) memcpy(c->wbuf + t->uuid_at[m], digits, UUID_LEN);
            snprintf(digits, sizeof digits, "%08ld%024ld", nonce, next / group);
            for (int m = 0; m < t->sessions; m++)
                memcpy(c->wbuf + t->session_at[m], digits, SESSION_LEN);
            c->wlen = t->length;
            c->woff = 0;
            c->rlen = 0;
            c->busy = 1;
            c->scheduled = start + (double)next * period;
            c->index = next++;
            if (flush_write(c) < 0) {
                errors++;
                close(c->fd);
                open_connection(&address, epoll_fd, c);
                ring_push(&idle, c);
            }
        }
        double wait = 1.0;
        if (next < total && idle.count > 0) {
            wait = start + (double)next * period - now_s();
            if (wait < 0) wait = 0;
        }
        struct timespec timeout = {.tv_sec = (time_t)wait,
                                   .tv_nsec = (long)((wait - floor(wait)) * 1e9)};
        int n = epoll_pwait2(epoll_fd, events, 256, &timeout, NULL);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_pwait2");
        }
        for (int e = 0; e < n; e++) {
            conn_t *c = events[e].data.ptr;
            if (!c->busy) {
                int closed = (events[e].events & (EPOLLERR | EPOLLHUP)) != 0;
                if (!closed && (events[e].events & EPOLLIN)) {
                    char scratch[256];
                    ssize_t got = read(c->fd, scratch, sizeof scratch);
                    closed = got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
                }
                if (closed) { /* the server closed an idle connection: reconnect in place */
                    close(c->fd);
                    open_connection(&address, epoll_fd, c);
                }
                continue;
            }
            int failed = (events[e].events & (EPOLLERR | EPOLLHUP)) != 0;
            if (!failed && (events[e].events & EPOLLOUT)) failed = flush_write(c) < 0;
            if (!failed && (events[e].events & EPOLLIN)) {
                for (;;) {
                    if (c->rlen == RBUF) {
                        failed = 1;
                        break;
                    }
                    ssize_t got = read(c->fd, c->rbuf + c->rlen, RBUF - c->rlen);
                    if (got < 0) {
                        if (errno != EAGAIN && errno != EWOULDBLOCK) failed = 1;
                        break;
                    }
                    if (got == 0) {
                        failed = 1;
                        break;
                    }
                    c->rlen += (size_t)got;
                }
                size_t used = 0;
                int status = parse_response(c, &used);
                if (status) {
                    double done = now_s();
                    completed++;
                    if (status < 200 || status > 299) non2xx++;
                    if (c->index >= warm) latency[recorded++] = done - c->scheduled;
                    c->busy = 0;
                    c->rlen = 0;
                    ring_push(&idle, c);
                    continue;
                }
            }
            if (failed) {
                errors++;
                close(c->fd);
                open_connection(&address, epoll_fd, c);
                c->busy = 0;
                ring_push(&idle, c);
            }
        }
    }
    double finished = now_s();
    long unfinished = total - completed - errors;
    qsort(latency, (size_t)recorded, sizeof(double), cmp_double);
#define PCT(p) (recorded ? latency[(long)ceil((p) / 100.0 * (double)recorded) - 1] * 1000.0 : 0.0)
    double sum = 0;
    for (long i = 0; i < recorded; i++) sum += latency[i];
    printf("{\"rate\": %.1f, \"duration_s\": %.3f, \"connections\": %d, \"scheduled\": %ld, "
           "\"completed\": %ld, \"errors\": %ld, \"unfinished\": %ld, \"non2xx\": %ld, "
           "\"recorded\": %ld, \"achieved_rps\": %.1f, \"mean_ms\": %.3f, \"p50_ms\": %.3f, "
           "\"p90_ms\": %.3f, \"p99_ms\": %.3f, \"p999_ms\": %.3f, \"max_ms\": %.3f}\n",
           rate, duration, connections, total, completed, errors, unfinished, non2xx, recorded,
           (double)completed / (finished - start), recorded ? sum / (double)recorded * 1000 : 0.0,
           PCT(50), PCT(90), PCT(99), PCT(99.9), recorded ? latency[recorded - 1] * 1000 : 0.0);
    return (errors || unfinished) ? 1 : 0;
}
