/*
 * The server process of grpc_bench (see bench_server.c).
 */
#ifndef GRPC_BENCH_SERVER_H
#define GRPC_BENCH_SERVER_H

#include <sched.h>
#include <stdint.h>
#include <sys/types.h>

#include "bench_local.h"

typedef struct server_process {
  pid_t pid;
  int go;    /* write end of the pipe that starts and stops the server */
  int ready; /* read end of the pipe that returns the port */
} server_process;

/* Forks the server process, which waits until bench_start_server().
 * Call it while this process has no threads yet: the engine and gRPC
 * start threads, and a child forked later would lack them.  The child
 * keeps its copy of `queries` for bench_server_run_local().  With
 * `server_cpus` not NULL, the child and every thread it starts run only
 * on those CPUs. */
server_process bench_fork_server(const char *db_dir, int threads,
                                 const matrix *queries,
                                 const cpu_set_t *server_cpus);

/* Splits the CPUs this process may run on: the first `server_count` go
 * to *server, the others to *client.  Returns 0, or -1 when no CPU would
 * be left for the client. */
int bench_split_cpus(int server_count, cpu_set_t *server, cpu_set_t *client);

/* Restricts every thread of this process to `cpus`.  Returns 0 or -1. */
int bench_pin_process(const cpu_set_t *cpus);

/* Checks that every thread of process `pid` may run only on `cpus`.
 * Prints each thread that may not, naming the process by `role`
 * ("client" or "server"), and returns how many there were. */
int bench_check_pinned(pid_t pid, const cpu_set_t *cpus, const char *role);

/* Lets the server open the database, which this process must have
 * closed; returns the server's port.  Exits when the server fails. */
int bench_start_server(const server_process *server);

/* Runs in-process searches in the server process, on the database that
 * it serves, as bench_run_local() describes, and fills *out.  No gRPC
 * call may be in flight meanwhile.  Exits when the server process fails. */
void bench_server_run_local(const server_process *server, uint32_t k,
                            uint32_t ef, int threads, double seconds,
                            row_result *out);

/* Stops the server and waits for it to exit. */
void bench_stop_server(server_process *server);

/* Sums the user and system CPU seconds of the threads of `pid`: all of
 * them into *all, and those named `name` into *named. */
void bench_process_cpu(pid_t pid, const char *name, double *all, double *named);

#endif
