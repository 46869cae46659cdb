/*
 * The server process of grpc_bench: a child that serves the benchmark's
 * database with strata_server_start() on 127.0.0.1, as `strata serve`
 * does, so that the client and the server are separate processes and
 * each one's CPU time can be measured.  The same process also runs the
 * in-process rows on request, because only one process can open the
 * database, and so in-process and gRPC rows can alternate in one run.
 */
#define _GNU_SOURCE /* sched_setaffinity, CPU_SET */
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_local.h"
#include "bench_server.h"
#include "strata.h"
#include "strata_server.h"

/* Commands that the parent writes on the `go` pipe. */
#define COMMAND_START 'g'
#define COMMAND_LOCAL 'l'

/* Arguments of COMMAND_LOCAL, which follow the command byte. */
typedef struct local_command {
  uint32_t k, ef;
  int threads;
  double seconds;
} local_command;

static int read_all(int fd, void *buffer, size_t size) {
  char *p = buffer;
  while (size > 0) {
    ssize_t got = read(fd, p, size);
    if (got <= 0)
      return -1;
    p += got;
    size -= (size_t)got;
  }
  return 0;
}

static int write_all(int fd, const void *buffer, size_t size) {
  const char *p = buffer;
  while (size > 0) {
    ssize_t done = write(fd, p, size);
    if (done <= 0)
      return -1;
    p += done;
    size -= (size_t)done;
  }
  return 0;
}

/* Runs in the child: waits for COMMAND_START on `go`, opens the database
 * and starts the server, and writes the port to `ready`.  Then runs each
 * COMMAND_LOCAL on the open database, writing a row_result to `ready`,
 * and stops when `go` reaches end of file. */
static void serve_until_closed(const char *db_dir, int threads,
                               const matrix *queries, int go, int ready) {
  char byte;
  if (read(go, &byte, 1) != 1 || byte != COMMAND_START)
    _exit(0);
  strata_db *db = NULL;
  if (strata_open(db_dir, NULL, &db) != STRATA_OK) {
    fprintf(stderr, "grpc_bench server: cannot open %s: %s\n", db_dir,
            strata_last_error());
    _exit(1);
  }
  strata_server_config config = {.host = "127.0.0.1",
                                 .port = 0,
                                 .threads = threads,
                                 .max_message_bytes = 64 << 20};
  strata_server *server = NULL;
  char error[256];
  if (strata_server_start(db, &config, &server, error, sizeof error) !=
      STRATA_OK) {
    fprintf(stderr, "grpc_bench server: cannot start: %s\n", error);
    _exit(1);
  }
  int port = strata_server_port(server);
  if (write(ready, &port, sizeof port) != sizeof port)
    _exit(1);
  while (read(go, &byte, 1) > 0) {
    local_command command;
    row_result result;
    if (byte != COMMAND_LOCAL || read_all(go, &command, sizeof command) != 0) {
      fprintf(stderr, "grpc_bench server: invalid command from the "
                      "benchmark process\n");
      _exit(1);
    }
    bench_run_local(db, queries, command.k, command.ef, command.threads,
                    command.seconds, &result);
    if (write_all(ready, &result, sizeof result) != 0)
      _exit(1);
  }
  strata_server_stop(server, 1000);
  strata_close(db);
  _exit(0);
}

server_process bench_fork_server(const char *db_dir, int threads,
                                 const matrix *queries,
                                 const cpu_set_t *server_cpus) {
  int go[2], ready[2];
  if (pipe(go) != 0 || pipe(ready) != 0) {
    perror("grpc_bench: pipe");
    exit(1);
  }
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    perror("grpc_bench: fork");
    exit(1);
  }
  if (pid == 0) {
    /* The child has one thread now, and the threads it starts inherit its
     * CPUs. */
    if (server_cpus != NULL &&
        sched_setaffinity(0, sizeof *server_cpus, server_cpus) != 0) {
      perror("grpc_bench server: sched_setaffinity");
      _exit(1);
    }
    close(go[1]);
    close(ready[0]);
    serve_until_closed(db_dir, threads, queries, go[0], ready[1]);
  }
  close(go[0]);
  close(ready[1]);
  return (server_process){pid, go[1], ready[0]};
}

int bench_start_server(const server_process *p) {
  int port = 0;
  char command = COMMAND_START;
  if (write(p->go, &command, 1) != 1 ||
      read(p->ready, &port, sizeof port) != sizeof port) {
    fprintf(stderr, "grpc_bench: the server process did not start\n");
    exit(1);
  }
  return port;
}

void bench_server_run_local(const server_process *p, uint32_t k,
                            uint32_t ef, int threads, double seconds,
                            row_result *out) {
  char command = COMMAND_LOCAL;
  local_command arguments = {k, ef, threads, seconds};
  if (write_all(p->go, &command, 1) != 0 ||
      write_all(p->go, &arguments, sizeof arguments) != 0 ||
      read_all(p->ready, out, sizeof *out) != 0) {
    fprintf(stderr, "grpc_bench: the server process failed to run the "
                    "in-process searches\n");
    exit(1);
  }
}

void bench_stop_server(server_process *p) {
  int status = 0;
  close(p->go);
  close(p->ready);
  waitpid(p->pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fprintf(stderr, "grpc_bench: the server process failed (status %d)\n",
            status);
}

int bench_split_cpus(int server_count, cpu_set_t *server, cpu_set_t *client) {
  cpu_set_t allowed;
  CPU_ZERO(server);
  CPU_ZERO(client);
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0)
    return -1;
  int n_server = 0;
  for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
    if (!CPU_ISSET(cpu, &allowed))
      continue;
    if (n_server < server_count) {
      CPU_SET(cpu, server);
      n_server++;
    } else {
      CPU_SET(cpu, client);
    }
  }
  return n_server == server_count && CPU_COUNT(client) > 0 ? 0 : -1;
}

int bench_pin_process(const cpu_set_t *cpus) {
  DIR *dir = opendir("/proc/self/task");
  if (dir == NULL)
    return -1;
  int failed = 0;
  struct dirent *entry;
  while ((entry = readdir(dir)) != NULL) {
    if (entry->d_name[0] == '.')
      continue;
    pid_t tid = (pid_t)strtol(entry->d_name, NULL, 10);
    /* ESRCH means the thread exited after the directory was read. */
    if (sched_setaffinity(tid, sizeof *cpus, cpus) != 0 && errno != ESRCH)
      failed = 1;
  }
  closedir(dir);
  return failed ? -1 : 0;
}

int bench_check_pinned(pid_t pid, const cpu_set_t *cpus, const char *role) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
  DIR *dir = opendir(path);
  if (dir == NULL) {
    fprintf(stderr,
            "grpc_bench: failed to list the threads of the %s process %d: "
            "%s\n",
            role, (int)pid, strerror(errno));
    return 1;
  }
  int wrong = 0;
  struct dirent *entry;
  while ((entry = readdir(dir)) != NULL) {
    if (entry->d_name[0] == '.')
      continue;
    pid_t tid = (pid_t)strtol(entry->d_name, NULL, 10);
    cpu_set_t actual;
    if (sched_getaffinity(tid, sizeof actual, &actual) != 0) {
      if (errno == ESRCH)
        continue;
      fprintf(stderr,
              "grpc_bench: failed to read the CPU affinity of %s thread %d: "
              "%s\n",
              role, (int)tid, strerror(errno));
      wrong++;
    } else if (!CPU_EQUAL(&actual, cpus)) {
      fprintf(stderr,
              "grpc_bench: %s thread %d is not pinned: it may run on CPUs "
              "outside those --pin assigned to the %s\n",
              role, (int)tid, role);
      wrong++;
    }
  }
  closedir(dir);
  return wrong;
}

void bench_process_cpu(pid_t pid, const char *name, double *all,
                       double *named) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
  *all = *named = 0;
  DIR *dir = opendir(path);
  if (dir == NULL)
    return;
  double tick = (double)sysconf(_SC_CLK_TCK);
  struct dirent *entry;
  while ((entry = readdir(dir)) != NULL) {
    if (entry->d_name[0] == '.')
      continue;
    char stat_path[128], line[1024];
    snprintf(stat_path, sizeof stat_path, "%s/%s/stat", path, entry->d_name);
    FILE *f = fopen(stat_path, "r");
    if (f == NULL)
      continue;
    size_t len = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[len] = '\0';
    /* Fields after the name, which is in parentheses: state is field 3,
     * utime 14 and stime 15. */
    char *open = strchr(line, '(');
    char *close_paren = strrchr(line, ')');
    if (open == NULL || close_paren == NULL)
      continue;
    unsigned long utime = 0, stime = 0;
    if (sscanf(close_paren + 2,
               "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime,
               &stime) != 2)
      continue;
    double seconds = (double)(utime + stime) / tick;
    *all += seconds;
    size_t name_len = (size_t)(close_paren - open - 1);
    if (name_len == strlen(name) && strncmp(open + 1, name, name_len) == 0)
      *named += seconds;
  }
  closedir(dir);
}
