/*
 * The server process of grpc_bench: a child that serves the benchmark's
 * database with strata_server_start() on 127.0.0.1, as `strata serve`
 * does, so that the client and the server are separate processes and
 * each one's CPU time can be measured.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_server.h"
#include "strata.h"
#include "strata_server.h"

/* Runs in the child: waits for a byte on `go`, opens the database and
 * starts the server, writes the port to `ready`, and stops when `go`
 * reaches end of file. */

static void serve_until_closed(const char *db_dir, int threads, int go,
                               int ready) {
  char byte;
  if (read(go, &byte, 1) != 1)
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
  }
  strata_server_stop(server, 1000);
  strata_close(db);
  _exit(0);
}

server_process bench_fork_server(const char *db_dir, int threads) {
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
    close(go[1]);
    close(ready[0]);
    serve_until_closed(db_dir, threads, go[0], ready[1]);
  }
  close(go[0]);
  close(ready[1]);
  return (server_process){pid, go[1], ready[0]};
}

int bench_start_server(const server_process *p) {
  int port = 0;
  if (write(p->go, "g", 1) != 1 ||
      read(p->ready, &port, sizeof port) != sizeof port) {
    fprintf(stderr, "grpc_bench: the server process did not start\n");
    exit(1);
  }
  return port;
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
