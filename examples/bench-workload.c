/*
 * THE BENCHMARK'S WORKLOAD (not an example of using corepack).
 *
 * `npm run bench` (src/bench/workload.ts) compiles this file twice at bench
 * time, into a temporary directory, and crashes the result to get a real
 * kernel core of a chosen size:
 *
 *   libbenchwork.so   this file with -DBENCH_LIB -shared -fPIC, compiled as
 *                     C++ with g++ when g++ is installed (so the process also
 *                     maps libstdc++ and libgcc_s), as C with gcc otherwise
 *   bench-workload    this file as C, linked against libbenchwork.so (found
 *                     through its RUNPATH), libz, libm and libpthread
 *
 * usage: bench-workload HEAP_MIB SPARSE_MIB NONE_MIB
 *
 *   HEAP_MIB    MiB of heap the worker threads allocate and fill, in blocks
 *               of 1-256 KiB (small ones from the per-thread malloc arenas,
 *               big ones mmap()ed by malloc), each block one of:
 *                 ~1/4  pseudo-random bytes (incompressible),
 *                 ~1/2  text-like log records (compressible, but not
 *                       degenerate: counters, ids, a small vocabulary),
 *                 ~1/4  zeros, written (touched): real zero pages in the core.
 *   SPARSE_MIB  an anonymous MAP_NORESERVE region of which only one page per
 *               64 MiB is written: the kernel dumps the whole region (it has
 *               been written to), and the untouched pages become holes, so
 *               the core is a sparse file, as real ones are (thread stacks,
 *               reserved heaps).
 *   NONE_MIB    a PROT_NONE reservation, never touched: a PT_LOAD header
 *               with no bytes in the core at all.
 *
 * Four worker threads fill the heap in parallel, compress a sample of their
 * records with zlib and compute statistics with libm, then park in
 * worker_park(). The main thread then calls into libbenchwork.so, which
 * dereferences NULL a few frames deep: SIGSEGV, core dumped.
 *
 * Deterministic: the same arguments give the same memory contents.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#ifdef BENCH_LIB
/* ------------------------------------------------------------------------ */
/* libbenchwork.so                                                           */
/* ------------------------------------------------------------------------ */
#ifdef __cplusplus
#include <string>
#include <vector>
#define BENCH_EXPORT extern "C" __attribute__((visibility("default")))
#else
#define BENCH_EXPORT __attribute__((visibility("default")))
#endif
#include <stddef.h>

static int *volatile bench_null_ptr = 0;

__attribute__((noinline)) static int bench_lib_fault(int depth)
{
    if (depth > 0) return bench_lib_fault(depth - 1) + 1;
    return *bench_null_ptr; /* SIGSEGV */
}

BENCH_EXPORT const char *bench_lib_kind(void)
{
#ifdef __cplusplus
    return "c++";
#else
    return "c";
#endif
}

/* Called by main once the heap is full: never returns. */
BENCH_EXPORT int bench_lib_crash(size_t records)
{
#ifdef __cplusplus
    std::vector<std::string> trail;
    for (size_t i = 0; i < 8; i++) trail.push_back("frame " + std::to_string(i) + " of " + std::to_string(records));
    return bench_lib_fault((int)trail.size());
#else
    return bench_lib_fault((int)(records % 4) + 4);
#endif
}

#else
/* ------------------------------------------------------------------------ */
/* bench-workload                                                            */
/* ------------------------------------------------------------------------ */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

extern int bench_lib_crash(size_t records);
extern const char *bench_lib_kind(void);

#define NUM_WORKERS 4
#define MIB ((size_t)1 << 20)
#define MIN_BLOCK 1024
#define MAX_BLOCK (256 * 1024)
#define SPARSE_STRIDE (64 * MIB)

struct block {
    struct block *next;
    size_t size;
    unsigned kind; /* 0 random, 1 text, 2 zeros */
};

struct worker {
    pthread_t thread;
    int index;
    size_t bytes;          /* to fill */
    struct block *blocks;  /* everything it allocated, kept reachable */
    size_t records;
    uLongf compressed;     /* zlib size of a sample */
    double mean_ms, stddev_ms;
};

static struct worker workers[NUM_WORKERS];
static pthread_barrier_t filled;
static pthread_mutex_t park_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t park_cond = PTHREAD_COND_INITIALIZER;

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static const char *const LEVELS[] = { "INFO ", "INFO ", "INFO ", "DEBUG", "WARN ", "ERROR" };
static const char *const PATHS[] = { "/api/v1/items", "/api/v1/users", "/api/v2/orders", "/health", "/static/app.js", "/login" };
static const char *const VERBS[] = { "GET", "GET", "GET", "POST", "PUT", "DELETE" };

static void fill_random(unsigned char *p, size_t n, uint64_t *s)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v = xorshift(s);
        memcpy(p + i, &v, 8);
    }
    for (; i < n; i++) p[i] = (unsigned char)xorshift(s);
}

/* Log-like records; returns how many were written. `durations` collects a stat. */
static size_t fill_text(struct worker *w, char *p, size_t n, uint64_t *s, double *sum, double *sumsq)
{
    size_t used = 0, count = 0;
    while (used < n) {
        uint64_t r = xorshift(s);
        unsigned dur = (unsigned)(r % 997);
        char rec[256];
        int len = snprintf(rec, sizeof rec,
                           "2024-11-%02u %02u:%02u:%02u.%03u %s [worker-%d] req=%010zu user=user%04u %s %s/%u status=%u bytes=%u dur_ms=%u\n",
                           (unsigned)(1 + (r >> 10) % 28), (unsigned)((r >> 15) % 24), (unsigned)((r >> 20) % 60),
                           (unsigned)((r >> 26) % 60), (unsigned)((r >> 32) % 1000), LEVELS[(r >> 42) % 6], w->index,
                           w->records + count, (unsigned)((r >> 45) % 5000), VERBS[(r >> 50) % 6], PATHS[(r >> 53) % 6],
                           (unsigned)((r >> 20) % 10000), (r >> 56) % 16 ? 200u : 500u, (unsigned)((r >> 8) % 65536), dur);
        if (len <= 0) break;
        size_t take = (size_t)len < n - used ? (size_t)len : n - used;
        memcpy(p + used, rec, take);
        used += take;
        count++;
        *sum += dur;
        *sumsq += (double)dur * dur;
    }
    return count;
}

static void worker_park(void)
{
    pthread_mutex_lock(&park_lock);
    for (;;) pthread_cond_wait(&park_cond, &park_lock);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    uint64_t seed = 0x9e3779b97f4a7c15ULL * (uint64_t)(w->index + 1);
    double sum = 0, sumsq = 0;
    size_t done = 0;
    char *sample = NULL;
    size_t sample_len = 0;

    while (done < w->bytes) {
        uint64_t r = xorshift(&seed);
        size_t size = MIN_BLOCK + (size_t)(r % (MAX_BLOCK - MIN_BLOCK));
        if (size > w->bytes - done) size = w->bytes - done;
        if (size < sizeof(struct block)) size = sizeof(struct block);
        unsigned pick = (unsigned)((r >> 40) % 4); /* 0: random, 1-2: text, 3: zeros */
        unsigned kind = pick == 0 ? 0 : pick == 3 ? 2 : 1;
        struct block *b = malloc(size);
        if (!b) {
            perror("bench-workload: malloc");
            exit(2);
        }
        unsigned char *payload = (unsigned char *)(b + 1);
        size_t n = size - sizeof *b;
        if (kind == 0) fill_random(payload, n, &seed);
        else if (kind == 1) {
            w->records += fill_text(w, (char *)payload, n, &seed, &sum, &sumsq);
            if (!sample) {
                sample = (char *)payload;
                sample_len = n;
            }
        } else memset(payload, 0, n); /* touched: the pages exist, full of zeros */
        b->size = size;
        b->kind = kind;
        b->next = w->blocks;
        w->blocks = b;
        done += size;
    }

    /* libz and libm do real work, so the process really needs them. */
    if (sample) {
        uLongf cap = compressBound((uLong)sample_len);
        Bytef *out = malloc(cap);
        if (out && compress2(out, &cap, (const Bytef *)sample, (uLong)sample_len, 6) == Z_OK) w->compressed = cap;
        free(out);
    }
    if (w->records) {
        w->mean_ms = sum / (double)w->records;
        w->stddev_ms = sqrt(fmax(0.0, sumsq / (double)w->records - w->mean_ms * w->mean_ms));
        w->stddev_ms = exp(log1p(w->stddev_ms)) - 1.0;
    }
    pthread_barrier_wait(&filled);
    worker_park();
    return NULL;
}

static size_t arg_mib(const char *s, const char *what)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*s == '\0' || *end != '\0') {
        fprintf(stderr, "bench-workload: %s must be a number of MiB, not %s\n", what, s);
        exit(2);
    }
    return (size_t)v;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: bench-workload HEAP_MIB SPARSE_MIB NONE_MIB\n");
        return 2;
    }
    size_t heap = arg_mib(argv[1], "HEAP_MIB") * MIB;
    size_t sparse = arg_mib(argv[2], "SPARSE_MIB") * MIB;
    size_t none = arg_mib(argv[3], "NONE_MIB") * MIB;

    /* Sparse region: written every SPARSE_STRIDE, so dumped whole with holes. */
    if (sparse) {
        unsigned char *region = mmap(NULL, sparse, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (region == MAP_FAILED) {
            perror("bench-workload: mmap sparse");
            return 2;
        }
        for (size_t off = 0; off < sparse; off += SPARSE_STRIDE) region[off] = 0xA5;
    }
    if (none && mmap(NULL, none, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0) == MAP_FAILED) {
        perror("bench-workload: mmap PROT_NONE");
        return 2;
    }

    pthread_barrier_init(&filled, NULL, NUM_WORKERS + 1);
    for (int i = 0; i < NUM_WORKERS; i++) {
        workers[i].index = i + 1;
        workers[i].bytes = heap / NUM_WORKERS + (i == 0 ? heap % NUM_WORKERS : 0);
        if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) != 0) {
            fprintf(stderr, "bench-workload: pthread_create failed\n");
            return 2;
        }
    }
    pthread_barrier_wait(&filled);
    /* Give the workers time to reach pthread_cond_wait in worker_park(). */
    usleep(100 * 1000);

    size_t records = 0;
    for (int i = 0; i < NUM_WORKERS; i++) records += workers[i].records;
    fprintf(stderr, "bench-workload: %zu MiB filled, %zu records, lib %s, crashing\n", heap / MIB, records, bench_lib_kind());
    return bench_lib_crash(records);
}
#endif
