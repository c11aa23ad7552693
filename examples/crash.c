/*
 * The kind of crash corepack is for, in one file.
 *
 * A small "server" starts worker threads, loads a compression library at run
 * time with dlopen() (so `ldd` would never list it), and one worker then
 * dereferences a NULL pointer while handling a request. The kernel writes a
 * core. On another machine, with other library versions, gdb on that core
 * alone shows garbage; with the bundle `corepack collect` makes, it shows
 * exactly this stack:
 *
 *   #0  __strlen_avx2 () in libc.so.6
 *   #1  parse_header (req=0x0) at crash.c
 *   #2  handle_request (id=3) at crash.c
 *   #3  worker (arg=0x3) at crash.c
 *
 * Build and run: see examples/run.sh (it is what `npm run example` does).
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct request {
    int id;
    char header[64];
};

static pthread_barrier_t started;

/* The bug: request 3 arrives without a header. */
__attribute__((noinline)) static size_t parse_header(const struct request *req)
{
    return strlen(req->header); /* req is NULL for request 3 */
}

__attribute__((noinline)) static size_t handle_request(int id)
{
    static struct request good = { 1, "GET / HTTP/1.1" };
    const struct request *req = id == 3 ? NULL : &good;
    return parse_header(req) + (size_t)id;
}

static void *worker(void *arg)
{
    int id = (int)(long)arg;
    pthread_barrier_wait(&started);
    if (id == 3)
        handle_request(id); /* crashes */
    for (;;)
        pause(); /* the other workers idle, as in a real server */
    return NULL;
}

int main(void)
{
    /* Loaded at run time, like a plugin: only the core knows it was there. */
    void *z = dlopen("libz.so.1", RTLD_NOW);
    const char *(*zlib_version)(void) = z ? (const char *(*)(void))dlsym(z, "zlibVersion") : NULL;
    printf("zlib %s\n", zlib_version ? zlib_version() : "(not found)");
    fflush(stdout);

    enum { WORKERS = 3 };
    pthread_t threads[WORKERS];
    pthread_barrier_init(&started, NULL, WORKERS);
    for (long i = 1; i <= WORKERS; i++)
        pthread_create(&threads[i - 1], NULL, worker, (void *)i);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(threads[i], NULL);
    return 0;
}
