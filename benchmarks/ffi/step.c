/*
 * step.c: the cost of crossing the C API (bindings/c) for the steps core/benches/core.rs times
 * in Rust (group "step"), on the same machine state:
 *   trivial     gs_machine_poll_timeout (no input, no output)
 *   empty step  gs_machine_handle_timeout with nothing due, outputs drained (none)
 *   step        gs_machine_command {"call":"get_session"} on a memory-only machine holding the
 *               session with the 1.5 KB user, outputs drained (one `complete` carrying the
 *               session as JSON, freed)
 * Each figure is the median of 7 runs of N calls, in ns per call.
 *
 *   benchmarks/ffi/run   (builds this with gcc -O2 against the static library, runs it)
 *   step TOKEN_ANSWER.json [N]
 */
#define _POSIX_C_SOURCE 199309L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gotrue_session.h"

static const uint64_t NOW = 1767225601000ULL;
#define RUNS 7

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void die(const char *what, GsError *err) {
  fprintf(stderr, "error: %s: %s\n", what, err && err->message ? err->message : "(no message)");
  exit(1);
}

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    exit(1);
  }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
    fprintf(stderr, "error: cannot read %s\n", path);
    exit(1);
  }
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) n--;
  buf[n] = 0;
  fclose(f);
  *len = (size_t)n;
  return buf;
}

/* Drains every output; returns how many there were and, when asked, the id of the last `http`. */
static int drain(GsMachine *m, uint64_t *http_id, GsError *err) {
  int n = 0;
  char *json;
  while ((json = gs_machine_poll_output(m, err)) != NULL) {
    if (http_id && strncmp(json, "{\"type\":\"http\"", 14) == 0) {
      const char *id = strstr(json, "\"id\":");
      if (id) *http_id = strtoull(id + 5, NULL, 10);
    }
    gs_string_free(json);
    n++;
  }
  if (err->code != GS_ERROR_CODE_OK) die("gs_machine_poll_output", err);
  return n;
}

typedef int (*op_fn)(GsMachine *m, GsError *err);

static int op_trivial(GsMachine *m, GsError *err) {
  (void)err;
  uint64_t at = 0;
  return gs_machine_poll_timeout(m, &at) ? 1 : 0;
}

static int op_empty_step(GsMachine *m, GsError *err) {
  if (gs_machine_handle_timeout(m, NOW, err) != GS_ERROR_CODE_OK) die("gs_machine_handle_timeout", err);
  return drain(m, NULL, err);
}

static int op_get_session(GsMachine *m, GsError *err) {
  if (gs_machine_command(m, NOW, "{\"call\":\"get_session\"}", NULL, err) != GS_ERROR_CODE_OK)
    die("gs_machine_command", err);
  return drain(m, NULL, err);
}

static void bench(const char *name, op_fn op, GsMachine *m, long n, GsError *err) {
  volatile int sink = 0;
  for (long i = 0; i < n / 10 + 1; i++) sink += op(m, err); /* warm up */
  double per[RUNS];
  for (int r = 0; r < RUNS; r++) {
    double t0 = now_ns();
    for (long i = 0; i < n; i++) sink += op(m, err);
    per[r] = (now_ns() - t0) / (double)n;
  }
  qsort(per, RUNS, sizeof per[0], cmp_double);
  printf("c/%-32s %10.1f ns/call  (median of %d runs of %ld)\n", name, per[RUNS / 2], RUNS, n);
  (void)sink;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s TOKEN_ANSWER.json [N]\n", argv[0]);
    return 2;
  }
  size_t answer_len = 0;
  char *answer = read_file(argv[1], &answer_len);
  long n = argc > 2 ? atol(argv[2]) : 200000;

  GsError err = {0};
  GsMachine *m = gs_machine_new(
      "{\"storage_key\":\"sb-test-auth-token\",\"api_key\":\"anon-key\",\"auto_refresh\":false,"
      "\"persist_session\":false,\"jitter\":false}",
      &err);
  if (!m) die("gs_machine_new", &err);

  /* Set up as the Rust bench does: initialize, sign in with the token answer. */
  if (gs_machine_command(m, NOW, "{\"call\":\"initialize\"}", NULL, &err) != GS_ERROR_CODE_OK) die("initialize", &err);
  drain(m, NULL, &err);
  if (gs_machine_command(m, NOW,
                         "{\"call\":\"sign_in_with_password\",\"email\":\"ada.lovelace@example.com\","
                         "\"password\":\"correct horse\"}",
                         NULL, &err) != GS_ERROR_CODE_OK)
    die("sign_in_with_password", &err);
  uint64_t req = 0;
  drain(m, &req, &err);
  if (req == 0) die("sign-in sent no request", NULL);
  if (gs_machine_handle_response(m, NOW, req, 200,
                                 "{\"content-type\":\"application/json\",\"x-supabase-api-version\":\"2024-01-01\"}",
                                 (const uint8_t *)answer, answer_len, &err) != GS_ERROR_CODE_OK)
    die("gs_machine_handle_response", &err);
  drain(m, NULL, &err);
  if (op_empty_step(m, &err) != 0) die("the empty step has outputs", NULL);
  if (op_get_session(m, &err) != 1) die("get_session does not complete in one output", NULL);
  char *probe = NULL;
  gs_machine_command(m, NOW, "{\"call\":\"get_session\"}", NULL, &err);
  probe = gs_machine_poll_output(m, &err);
  if (!probe || !strstr(probe, "\"ok\":true") || !strstr(probe, "rt-b")) die("get_session has no session", NULL);
  printf("c: get_session output is %zu bytes of JSON\n", strlen(probe));
  gs_string_free(probe);

  bench("trivial_poll_timeout", op_trivial, m, n * 10, &err);
  bench("handle_timeout_nothing_due", op_empty_step, m, n, &err);
  bench("get_session_memory_only", op_get_session, m, n / 4, &err);

  gs_machine_free(m);
  gs_error_clear(&err);
  free(answer);
  return 0;
}
