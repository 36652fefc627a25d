/*
 * api.c: the C API called directly from C, for what a scenario replay does not show on its own:
 * the checks of the configuration and the contents of a `complete` output's error.
 *
 *  - verify_cooldown_ms: whole numbers from 0 to 600000 are taken; anything else makes
 *    gs_machine_new fail with GS_ERROR_CODE_INVALID_ARGUMENT and a message that names the field
 *    and the range.
 *  - session_unconfirmed: get_user, /user answers 403 session_not_found, the verify refresh
 *    succeeds, /user asked again still answers session_not_found. get_user completes with
 *    kind "session_unconfirmed", retryable, status 403 and code session_not_found; the session
 *    is kept (no SIGNED_OUT, nothing removed). A second suspicion inside the cooldown is answered
 *    the same way without a refresh; with verify_cooldown_ms 0 it is verified again.
 *
 * Everything is answered at once from a scripted server and an in-memory store, on a fixed
 * clock: no I/O, no threads, no waiting. Prints `api.c: N passed, N failed`; exits 1 on failure.
 */
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gotrue_session.h"

static int passed, failed;

#define CHECK(cond, ...)                                        \
  do {                                                          \
    if (cond) {                                                 \
      passed++;                                                 \
    } else {                                                    \
      failed++;                                                 \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                             \
      fputc('\n', stderr);                                      \
    }                                                           \
  } while (0)

#define NOW 1767225600000ULL
#define KEY "sb-test-auth-token"
/* Two access tokens of the same session (sess-1, user-1, valid for an hour from NOW): the
 * stored one (ref "a") and the one the verify refresh returns (ref "b"). */
#define TOKEN_A                                                                                           \
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyLTEiLCJhdWQiOiJhdXRoZW50aWNhdGVkIiwicm9sZSI6ImF1" \
  "dGhlbnRpY2F0ZWQiLCJleHAiOjE3NjcyMjkyMDAsImlhdCI6MTc2NzIyNTYwMCwic2Vzc2lvbl9pZCI6InNlc3MtMSIsInJlZiI6" \
  "ImEifQ.c2lnLSR7dGFnfQ"
#define TOKEN_B                                                                                           \
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyLTEiLCJhdWQiOiJhdXRoZW50aWNhdGVkIiwicm9sZSI6ImF1" \
  "dGhlbnRpY2F0ZWQiLCJleHAiOjE3NjcyMjkyMDAsImlhdCI6MTc2NzIyNTYwMCwic2Vzc2lvbl9pZCI6InNlc3MtMSIsInJlZiI6" \
  "ImIifQ.c2lnLSR7dGFnfQ"
#define USER "{\"id\":\"user-1\",\"aud\":\"authenticated\",\"role\":\"authenticated\",\"email\":\"ada@example.com\"}"
#define SESSION(token, rt)                                                                                \
  "{\"access_token\":\"" token "\",\"token_type\":\"bearer\",\"expires_in\":3600,\"expires_at\":1767229200," \
  "\"refresh_token\":\"" rt "\",\"user\":" USER "}"
#define NOT_FOUND                                                                                       \
  "{\"code\":\"session_not_found\",\"error_code\":\"session_not_found\",\"msg\":\"Session from session_id " \
  "claim in JWT does not exist\"}"

/* ---- a scripted server and an in-memory store ---------------------------------------------- */

typedef struct {
  int status;
  const char *body;
} Answer;

typedef struct {
  GsMachine *m;
  uint64_t now;
  char *stored; /* the value under KEY, NULL when absent */
  const Answer *user, *token; /* the next answers of GET /user and POST /token */
  size_t user_left, token_left;
  int user_requests, token_requests, removes, signed_out, token_refreshed;
  uint64_t awaited; /* the operation whose `complete` is kept */
  cJSON *complete;  /* that `complete` output, owned */
  bool broken;      /* the machine asked for something the script has no answer for */
} Client;

static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = malloc(n);
  if (!p) abort();
  memcpy(p, s, n);
  return p;
}

static uint64_t id_of(const cJSON *out) { return (uint64_t)cJSON_GetObjectItem(out, "id")->valuedouble; }

static void answer(Client *c, uint64_t id, const Answer **queue, size_t *left) {
  if (*left == 0) {
    c->broken = true;
    gs_machine_handle_transport_failure(c->m, c->now, id, "no scripted answer", NULL);
    return;
  }
  const Answer *a = (*queue)++;
  (*left)--;
  GsError err = {0};
  GsErrorCode rc = gs_machine_handle_response(c->m, c->now, id, (uint16_t)a->status,
                                              "[[\"content-type\",\"application/json\"]]",
                                              (const uint8_t *)a->body, strlen(a->body), &err);
  CHECK(rc == GS_ERROR_CODE_OK, "gs_machine_handle_response: %s", err.message);
  gs_error_clear(&err);
}

/* Carries out every output until there is none; answers come at once. */
static void drain(Client *c) {
  GsError err = {0};
  char *json;
  while ((json = gs_machine_poll_output(c->m, &err)) != NULL) {
    cJSON *out = cJSON_Parse(json);
    gs_string_free(json);
    const char *type = cJSON_GetObjectItem(out, "type")->valuestring;
    if (strcmp(type, "http") == 0) {
      const char *path = cJSON_GetObjectItem(out, "path")->valuestring;
      if (strcmp(path, "/user") == 0) {
        c->user_requests++;
        answer(c, id_of(out), &c->user, &c->user_left);
      } else if (strcmp(path, "/token") == 0) {
        c->token_requests++;
        answer(c, id_of(out), &c->token, &c->token_left);
      } else {
        c->broken = true;
        gs_machine_handle_transport_failure(c->m, c->now, id_of(out), "unexpected path", NULL);
      }
    } else if (strcmp(type, "storage_read") == 0) {
      gs_machine_handle_storage_read(c->m, c->now, id_of(out), c->stored, NULL, NULL);
    } else if (strcmp(type, "storage_write") == 0) {
      free(c->stored);
      c->stored = dup_str(cJSON_GetObjectItem(out, "value")->valuestring);
      gs_machine_handle_storage_done(c->m, c->now, id_of(out), NULL, NULL);
    } else if (strcmp(type, "storage_remove") == 0) {
      c->removes++;
      free(c->stored);
      c->stored = NULL;
      gs_machine_handle_storage_done(c->m, c->now, id_of(out), NULL, NULL);
    } else if (strcmp(type, "event") == 0) {
      const char *kind = cJSON_GetObjectItem(out, "kind")->valuestring;
      if (strcmp(kind, "SIGNED_OUT") == 0) c->signed_out++;
      if (strcmp(kind, "TOKEN_REFRESHED") == 0) c->token_refreshed++;
    } else if (strcmp(type, "complete") == 0 && (uint64_t)cJSON_GetObjectItem(out, "op")->valuedouble == c->awaited) {
      cJSON_Delete(c->complete);
      c->complete = cJSON_Duplicate(out, true);
    }
    cJSON_Delete(out);
  }
  CHECK(err.code == GS_ERROR_CODE_OK, "gs_machine_poll_output: %s", err.message);
  gs_error_clear(&err);
}

/* Runs `command` to completion; the `complete` output is left in c->complete. */
static void run(Client *c, const char *command) {
  GsError err = {0};
  cJSON_Delete(c->complete);
  c->complete = NULL;
  GsErrorCode rc = gs_machine_command(c->m, c->now, command, &c->awaited, &err);
  CHECK(rc == GS_ERROR_CODE_OK, "%s: %s", command, err.message);
  gs_error_clear(&err);
  drain(c);
  CHECK(c->complete != NULL, "%s did not complete", command);
}

static const char *str_field(const cJSON *obj, const char *key) {
  const cJSON *v = cJSON_GetObjectItem(obj, key);
  return cJSON_IsString(v) ? v->valuestring : "(not a string)";
}

/* The error of c->complete, or NULL when it succeeded. */
static const cJSON *error_of(const Client *c) {
  const cJSON *e = c->complete ? cJSON_GetObjectItem(c->complete, "error") : NULL;
  return cJSON_IsObject(e) ? e : NULL;
}

static void check_unconfirmed(const Client *c, const char *when) {
  const cJSON *e = error_of(c);
  CHECK(e != NULL, "%s: get_user succeeded", when);
  if (!e) return;
  CHECK(strcmp(str_field(e, "kind"), "session_unconfirmed") == 0, "%s: kind %s", when, str_field(e, "kind"));
  CHECK(cJSON_IsTrue(cJSON_GetObjectItem(e, "retryable")), "%s: not retryable", when);
  CHECK(cJSON_GetObjectItem(e, "status")->valuedouble == 403, "%s: status", when);
  CHECK(strcmp(str_field(e, "code"), "session_not_found") == 0, "%s: code %s", when, str_field(e, "code"));
}

/* A machine that has started with the stored session of TOKEN_A. */
static void start(Client *c, const char *config) {
  GsError err = {0};
  c->now = NOW;
  c->stored = dup_str(SESSION(TOKEN_A, "rt-a"));
  c->m = gs_machine_new(config, &err);
  CHECK(c->m != NULL, "gs_machine_new: %s", err.message);
  gs_error_clear(&err);
  if (!c->m) exit(1);
  run(c, "{\"call\":\"initialize\"}");
}

static void stop(Client *c) {
  gs_machine_free(c->m);
  cJSON_Delete(c->complete);
  free(c->stored);
}

/* ---- the tests ------------------------------------------------------------------------------ */

static void verify_cooldown_ms_is_validated(void) {
  static const char *const good[] = {"0", "1", "30000", "600000", "null"};
  static const char *const bad[] = {"-1", "600001", "9223372036854775808", "1.5", "\"30000\"", "true", "{}"};
  char config[256];
  GsError err = {0};
  for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
    snprintf(config, sizeof config, "{\"storage_key\":\"k\",\"api_key\":\"a\",\"verify_cooldown_ms\":%s}", good[i]);
    GsMachine *m = gs_machine_new(config, &err);
    CHECK(m != NULL && err.code == GS_ERROR_CODE_OK, "verify_cooldown_ms %s refused: %s", good[i], err.message);
    gs_machine_free(m);
  }
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    snprintf(config, sizeof config, "{\"storage_key\":\"k\",\"api_key\":\"a\",\"verify_cooldown_ms\":%s}", bad[i]);
    GsMachine *m = gs_machine_new(config, &err);
    CHECK(m == NULL, "verify_cooldown_ms %s accepted", bad[i]);
    gs_machine_free(m);
    CHECK(err.code == GS_ERROR_CODE_INVALID_ARGUMENT, "verify_cooldown_ms %s: code %d", bad[i], (int)err.code);
    const char *msg = err.message ? err.message : "";
    CHECK(strstr(msg, "`verify_cooldown_ms`") && strstr(msg, "0 (no cooldown)") && strstr(msg, "600000"),
          "verify_cooldown_ms %s: the message names neither the field nor the range: %s", bad[i], msg);
  }
  gs_error_clear(&err);
}

static void get_user_unconfirmed_keeps_the_session(void) {
  static const Answer user[] = {{403, NOT_FOUND}, {403, NOT_FOUND}, {403, NOT_FOUND}};
  static const Answer token[] = {{200, SESSION(TOKEN_B, "rt-b")}};
  Client c = {.user = user, .user_left = 3, .token = token, .token_left = 1};
  start(&c, "{\"storage_key\":\"" KEY "\",\"api_key\":\"a\",\"jitter\":false,\"auto_refresh\":false}");

  /* /user doubts, the verify refresh succeeds, /user still doubts: unconfirmed, kept. */
  run(&c, "{\"call\":\"get_user\"}");
  check_unconfirmed(&c, "after the verify refresh");
  CHECK(c.user_requests == 2 && c.token_requests == 1, "requests: %d /user, %d /token", c.user_requests,
        c.token_requests);
  CHECK(c.token_refreshed == 1, "TOKEN_REFRESHED %d times", c.token_refreshed);
  CHECK(c.signed_out == 0 && c.removes == 0, "signed out %d times, removed %d times", c.signed_out, c.removes);
  CHECK(c.stored && strstr(c.stored, "\"rt-b\""), "storage does not hold the refreshed session");

  /* Inside the cooldown (30 s by default): answered without a refresh. */
  c.now += 1000;
  run(&c, "{\"call\":\"get_user\"}");
  check_unconfirmed(&c, "inside the cooldown");
  CHECK(c.user_requests == 3 && c.token_requests == 1, "requests: %d /user, %d /token", c.user_requests,
        c.token_requests);
  CHECK(c.signed_out == 0 && c.removes == 0, "signed out %d times, removed %d times", c.signed_out, c.removes);

  /* The session is still there, with the refreshed token. */
  run(&c, "{\"call\":\"get_session\"}");
  const cJSON *value = c.complete ? cJSON_GetObjectItem(c.complete, "value") : NULL;
  CHECK(error_of(&c) == NULL && strcmp(str_field(value, "access_token"), TOKEN_B) == 0,
        "get_session does not answer the refreshed session");
  CHECK(!c.broken, "the machine asked for a request the script has no answer for");
  stop(&c);
}

static void no_cooldown_verifies_every_suspicion(void) {
  static const Answer user[] = {{403, NOT_FOUND}, {403, NOT_FOUND}, {403, NOT_FOUND}, {403, NOT_FOUND}};
  static const Answer token[] = {{200, SESSION(TOKEN_B, "rt-b")}, {200, SESSION(TOKEN_A, "rt-c")}};
  Client c = {.user = user, .user_left = 4, .token = token, .token_left = 2};
  start(&c, "{\"storage_key\":\"" KEY "\",\"api_key\":\"a\",\"jitter\":false,\"auto_refresh\":false,"
            "\"verify_cooldown_ms\":0}");
  run(&c, "{\"call\":\"get_user\"}");
  check_unconfirmed(&c, "first get_user");
  c.now += 1000;
  run(&c, "{\"call\":\"get_user\"}");
  check_unconfirmed(&c, "second get_user");
  CHECK(c.user_requests == 4 && c.token_requests == 2, "requests: %d /user, %d /token", c.user_requests,
        c.token_requests);
  CHECK(c.signed_out == 0 && c.removes == 0, "signed out %d times, removed %d times", c.signed_out, c.removes);
  CHECK(c.stored && strstr(c.stored, "\"rt-c\""), "storage does not hold the second refreshed session");
  CHECK(!c.broken, "the machine asked for a request the script has no answer for");
  stop(&c);
}

int main(void) {
  verify_cooldown_ms_is_validated();
  get_user_unconfirmed_keeps_the_session();
  no_cooldown_verifies_every_suspicion();
  printf("api.c: %d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
