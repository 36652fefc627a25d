/*
 * replay.c: replays scenario files (shared/scenario-format.md) through the C API of
 * gotrue-session, the way `gotrue-session replay` (cli/src/replay.rs) does through the Rust API:
 * a virtual clock, a scripted server (one answer queue per route, delay_ms, network_error,
 * offline_ms windows), a storage map with storage_fail injection, restarts, and advance_ms
 * firing timers and delayed answers in time order. It prints the same trace, byte for byte, and
 * checks the scenario's `expect` block the same way.
 *
 *   replay FILE...   exit 0: all expectations met; 1: one was not; 2: a bad file or an API error.
 *
 * JSON is read with cJSON and written here, as serde_json writes it (compact, keys in order,
 * the same string escapes, numbers as ryu formats them). One limit: cJSON keeps numbers as
 * doubles, so an integral number written with a fraction (3.0) or beyond 2^53 in a scenario
 * would print differently; the corpus has none.
 */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gotrue_session.h"

#define DEFAULT_START_MS 1767225600000ULL
/* As in replay.rs: more rounds than this without the clock moving is a loop. */
#define MAX_ROUNDS_PER_INSTANT 100000

/* ---- memory --------------------------------------------------------------------------- */

static void *xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) {
    fputs("out of memory\n", stderr);
    exit(3);
  }
  return q;
}

static char *xstrdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = xrealloc(NULL, n);
  memcpy(p, s, n);
  return p;
}

/* ---- a growing string ------------------------------------------------------------------ */

typedef struct {
  char *buf;
  size_t len, cap;
} Sb;

static void sb_putn(Sb *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + n + 1) cap *= 2;
    b->buf = xrealloc(b->buf, cap);
    b->cap = cap;
  }
  memcpy(b->buf + b->len, s, n);
  b->len += n;
  b->buf[b->len] = '\0';
}

static void sb_puts(Sb *b, const char *s) { sb_putn(b, s, strlen(s)); }
static void sb_putc(Sb *b, char c) { sb_putn(b, &c, 1); }

static void sb_printf(Sb *b, const char *fmt, ...) {
  char small[128];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n < sizeof small) {
    sb_putn(b, small, (size_t)n);
    return;
  }
  char *big = xrealloc(NULL, (size_t)n + 1);
  va_start(ap, fmt);
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  va_end(ap);
  sb_putn(b, big, (size_t)n);
  free(big);
}

/* The text built so far, owned by the caller; the builder is empty again. */
static char *sb_take(Sb *b) {
  char *s = b->buf ? b->buf : xstrdup("");
  b->buf = NULL;
  b->len = b->cap = 0;
  return s;
}

static void sb_free(Sb *b) {
  free(b->buf);
  b->buf = NULL;
  b->len = b->cap = 0;
}

/* ---- JSON, written as serde_json writes it --------------------------------------------- */

static void json_string(Sb *b, const char *s) {
  sb_putc(b, '"');
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    switch (*p) {
      case '"': sb_puts(b, "\\\""); break;
      case '\\': sb_puts(b, "\\\\"); break;
      case '\b': sb_puts(b, "\\b"); break;
      case '\f': sb_puts(b, "\\f"); break;
      case '\n': sb_puts(b, "\\n"); break;
      case '\r': sb_puts(b, "\\r"); break;
      case '\t': sb_puts(b, "\\t"); break;
      default:
        if (*p < 0x20)
          sb_printf(b, "\\u%04x", *p);
        else
          sb_putc(b, (char)*p);
    }
  }
  sb_putc(b, '"');
}

static void json_string_or_null(Sb *b, const char *s) {
  if (s)
    json_string(b, s);
  else
    sb_puts(b, "null");
}

/* Integers as integers; other numbers as ryu's shortest round-trip form (serde_json's). */
static void json_number(Sb *b, double d) {
  if (!isfinite(d)) {
    sb_puts(b, "null");
    return;
  }
  if (d == 0) {
    sb_puts(b, "0");
    return;
  }
  if (d == floor(d) && fabs(d) < 9007199254740992.0) {
    sb_printf(b, "%.0f", d);
    return;
  }
  char sci[40];
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(sci, sizeof sci, "%.*e", prec - 1, d);
    if (strtod(sci, NULL) == d) break;
  }
  /* sci is [-]D[.DDD]e(+|-)XX: collect the digits and the exponent. */
  const char *p = sci;
  if (*p == '-') {
    sb_putc(b, '-');
    p++;
  }
  char digits[24];
  int n = 0;
  for (; *p && *p != 'e'; p++)
    if (*p != '.') digits[n++] = *p;
  while (n > 1 && digits[n - 1] == '0') n--;
  digits[n] = '\0';
  int exp10 = atoi(p + 1);
  int kk = exp10 + 1; /* where the decimal point goes, counted from the first digit */
  if (kk - n >= 0 && kk <= 16) {
    sb_puts(b, digits);
    for (int i = n; i < kk; i++) sb_putc(b, '0');
    sb_puts(b, ".0");
  } else if (0 < kk && kk <= 16) {
    sb_putn(b, digits, (size_t)kk);
    sb_putc(b, '.');
    sb_puts(b, digits + kk);
  } else if (-5 < kk && kk <= 0) {
    sb_puts(b, "0.");
    for (int i = kk; i < 0; i++) sb_putc(b, '0');
    sb_puts(b, digits);
  } else {
    sb_putc(b, digits[0]);
    if (n > 1) {
      sb_putc(b, '.');
      sb_puts(b, digits + 1);
    }
    sb_printf(b, "e%d", kk - 1);
  }
}

/* The last member named `key` (serde_json keeps the last of repeated keys); NULL if none or
 * `obj` is no object. */
static const cJSON *obj_get(const cJSON *obj, const char *key) {
  const cJSON *found = NULL;
  if (!cJSON_IsObject(obj)) return NULL;
  for (const cJSON *c = obj->child; c; c = c->next)
    if (c->string && strcmp(c->string, key) == 0) found = c;
  return found;
}

/* Absent and null are the same to serde's Option. */
static const cJSON *obj_opt(const cJSON *obj, const char *key) {
  const cJSON *v = obj_get(obj, key);
  return cJSON_IsNull(v) ? NULL : v;
}

static void json_value(Sb *b, const cJSON *v) {
  if (cJSON_IsNull(v)) {
    sb_puts(b, "null");
  } else if (cJSON_IsTrue(v)) {
    sb_puts(b, "true");
  } else if (cJSON_IsFalse(v)) {
    sb_puts(b, "false");
  } else if (cJSON_IsNumber(v)) {
    json_number(b, v->valuedouble);
  } else if (cJSON_IsString(v)) {
    json_string(b, v->valuestring);
  } else if (cJSON_IsArray(v)) {
    sb_putc(b, '[');
    for (const cJSON *c = v->child; c; c = c->next) {
      if (c != v->child) sb_putc(b, ',');
      json_value(b, c);
    }
    sb_putc(b, ']');
  } else if (cJSON_IsObject(v)) {
    /* A repeated key keeps its first place and its last value, as in serde_json's map. */
    bool first = true;
    sb_putc(b, '{');
    for (const cJSON *c = v->child; c; c = c->next) {
      bool seen = false;
      for (const cJSON *e = v->child; e != c; e = e->next)
        if (strcmp(e->string, c->string) == 0) seen = true;
      if (seen) continue;
      if (!first) sb_putc(b, ',');
      first = false;
      json_string(b, c->string);
      sb_putc(b, ':');
      json_value(b, obj_get(v, c->string));
    }
    sb_putc(b, '}');
  } else {
    sb_puts(b, "null");
  }
}

static cJSON *json_parse(const char *text) { return cJSON_ParseWithOpts(text, NULL, 1); }

/* ---- a list of strings ------------------------------------------------------------------ */

typedef struct {
  char **items; /* an item may be NULL */
  size_t len, cap;
} List;

static void list_push(List *l, const char *s) {
  if (l->len == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 8;
    l->items = xrealloc(l->items, l->cap * sizeof *l->items);
  }
  l->items[l->len++] = s ? xstrdup(s) : NULL;
}

static void list_free(List *l) {
  for (size_t i = 0; i < l->len; i++) free(l->items[i]);
  free(l->items);
  memset(l, 0, sizeof *l);
}

/* ---- the replay's state ----------------------------------------------------------------- */

enum { OP_READ, OP_WRITE, OP_REMOVE };
static const char *const OP_NAMES[] = {"read", "write", "remove"};

typedef struct {
  char *key, *value;
} Entry;

typedef struct {
  const char *route;    /* "METHOD /path", borrowed from the scenario */
  const cJSON *next;    /* the next answer of its queue, NULL when empty */
} Route;

typedef struct {
  uint64_t at, seq, request_id;
  const cJSON *answer; /* NULL: the connection fails */
} Due;

typedef struct {
  uint64_t op;
  char *name;
  size_t step;
} Call;

typedef struct {
  size_t call_step;
  bool ok;
  char *kind, *code;
  long status; /* -1: none */
  int token_field; /* 0: no access_token field; 1: one (token may be NULL) */
  char *token;
} Result;

typedef struct {
  const char *path;
  const cJSON *sc;
  uint64_t start_ms, now;
  size_t step;
  Entry *store;
  size_t nstore;
  uint32_t faults[3];
  Route *routes;
  size_t nroutes;
  GsMachine *m;
  char *config_json;
  Call *calls;
  size_t ncalls;
  Due *due;
  size_t ndue;
  uint64_t seq;
  Sb trace;
  /* What `expect` is checked against. */
  List event_names, event_tokens, requests;
  Result *results;
  size_t nresults;
  char *error; /* set: the replay failed */
} Replay;

static bool fail(Replay *r, const char *fmt, ...) {
  if (r->error) return false;
  Sb b = {0};
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  sb_printf(&b, "step %zu: %s", r->step, msg);
  r->error = sb_take(&b);
  return false;
}

/* An API failure: the code and the library's message. */
static bool fail_api(Replay *r, const char *what, GsError *err) {
  fail(r, "%s failed: code %d: %s", what, (int)err->code, err->message ? err->message : "(no message)");
  gs_error_clear(err);
  return false;
}

/* ---- storage ---------------------------------------------------------------------------- */

static Entry *store_find(Replay *r, const char *key) {
  for (size_t i = 0; i < r->nstore; i++)
    if (strcmp(r->store[i].key, key) == 0) return &r->store[i];
  return NULL;
}

static void store_set(Replay *r, const char *key, const char *value) {
  Entry *e = store_find(r, key);
  if (e) {
    free(e->value);
    e->value = xstrdup(value);
    return;
  }
  r->store = xrealloc(r->store, (r->nstore + 1) * sizeof *r->store);
  r->store[r->nstore].key = xstrdup(key);
  r->store[r->nstore].value = xstrdup(value);
  r->nstore++;
}

static bool store_remove(Replay *r, const char *key) {
  Entry *e = store_find(r, key);
  if (!e) return false;
  free(e->key);
  free(e->value);
  *e = r->store[--r->nstore];
  return true;
}

static int entry_cmp(const void *a, const void *b) {
  return strcmp(((const Entry *)a)->key, ((const Entry *)b)->key);
}

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* {"access_token":..,"refresh_token":..} of a stored value, or {"unparsable":true}. */
static void tokens_of(Sb *b, const char *raw) {
  cJSON *v = json_parse(raw);
  if (!v) {
    sb_puts(b, "{\"unparsable\":true}");
    return;
  }
  const cJSON *at = obj_get(v, "access_token"), *rt = obj_get(v, "refresh_token");
  sb_puts(b, "{\"access_token\":");
  if (at)
    json_value(b, at);
  else
    sb_puts(b, "null");
  sb_puts(b, ",\"refresh_token\":");
  if (rt)
    json_value(b, rt);
  else
    sb_puts(b, "null");
  sb_putc(b, '}');
  cJSON_Delete(v);
}

/* ---- the trace -------------------------------------------------------------------------- */

static void line_start(Replay *r) { sb_printf(&r->trace, "{\"step\":%zu,", r->step); }
static void line_end(Replay *r) { sb_puts(&r->trace, "}\n"); }

/* Whether the next storage operation of kind `op` fails (then it says so in the trace). */
static bool fault(Replay *r, int op, const char *key) {
  if (r->faults[op] == 0) return false;
  r->faults[op]--;
  line_start(r);
  sb_puts(&r->trace, "\"storage_error\":{\"op\":");
  json_string(&r->trace, OP_NAMES[op]);
  sb_puts(&r->trace, ",\"key\":");
  json_string(&r->trace, key);
  sb_putc(&r->trace, '}');
  line_end(r);
  return true;
}

static const char *const SESSION_CALLS[] = {
    "get_session",   "refresh_session",       "set_session",         "sign_in_with_password",
    "sign_in_with_id_token", "sign_in_anonymously", "exchange_code", "verify_otp", NULL};

static bool is_session_call(const char *name) {
  for (int i = 0; SESSION_CALLS[i]; i++)
    if (strcmp(SESSION_CALLS[i], name) == 0) return true;
  return false;
}

static Result *new_result(Replay *r, size_t call_step, bool ok) {
  r->results = xrealloc(r->results, (r->nresults + 1) * sizeof *r->results);
  Result *res = &r->results[r->nresults++];
  memset(res, 0, sizeof *res);
  res->call_step = call_step;
  res->ok = ok;
  res->status = -1;
  return res;
}

/* A call that is no operation (auto refresh, lifecycle, network) succeeds at once. */
static void plain_result(Replay *r, const char *name) {
  new_result(r, r->step, true);
  line_start(r);
  sb_puts(&r->trace, "\"result\":{\"call\":");
  json_string(&r->trace, name);
  sb_printf(&r->trace, ",\"call_step\":%zu,\"ok\":true,\"error\":null}", r->step);
  line_end(r);
}

/* The result line of a `complete` output for call `name` started at step `call_step`. */
static void result_line(Replay *r, const char *name, size_t call_step, const cJSON *out) {
  bool ok = cJSON_IsTrue(obj_get(out, "ok"));
  const cJSON *error = obj_get(out, "error"), *value = obj_get(out, "value");
  Result *res = new_result(r, call_step, ok);
  Sb *t = &r->trace;
  line_start(r);
  sb_puts(t, "\"result\":{\"call\":");
  json_string(t, name);
  sb_printf(t, ",\"call_step\":%zu,\"ok\":%s,\"error\":", call_step, ok ? "true" : "false");
  if (ok || !cJSON_IsObject(error)) {
    sb_puts(t, "null");
  } else {
    const cJSON *kind = obj_get(error, "kind"), *status = obj_get(error, "status"), *code = obj_get(error, "code");
    res->kind = xstrdup(cJSON_IsString(kind) ? kind->valuestring : "");
    if (cJSON_IsNumber(status)) res->status = (long)status->valuedouble;
    if (cJSON_IsString(code)) res->code = xstrdup(code->valuestring);
    sb_puts(t, "{\"kind\":");
    json_string(t, res->kind);
    sb_puts(t, ",\"status\":");
    if (res->status >= 0)
      sb_printf(t, "%ld", res->status);
    else
      sb_puts(t, "null");
    sb_puts(t, ",\"code\":");
    json_string_or_null(t, res->code);
    sb_putc(t, '}');
  }
  const cJSON *vkind = obj_get(value, "kind");
  const char *vk = cJSON_IsString(vkind) ? vkind->valuestring : "";
  if (is_session_call(name)) {
    const cJSON *tok = ok && strcmp(vk, "session") == 0 ? obj_get(value, "access_token") : NULL;
    res->token_field = 1;
    if (cJSON_IsString(tok)) res->token = xstrdup(tok->valuestring);
    sb_puts(t, ",\"access_token\":");
    json_string_or_null(t, res->token);
  }
  if (strcmp(name, "get_user") == 0 || strcmp(name, "get_user_with_jwt") == 0) {
    const cJSON *id = ok && strcmp(vk, "user") == 0 ? obj_get(value, "user_id") : NULL;
    sb_puts(t, ",\"user_id\":");
    json_string_or_null(t, cJSON_IsString(id) ? id->valuestring : NULL);
  }
  sb_putc(t, '}');
  line_end(r);
}

/* ---- the server ------------------------------------------------------------------------- */

static const cJSON *route_pop(Replay *r, const char *route) {
  for (size_t i = 0; i < r->nroutes; i++) {
    if (strcmp(r->routes[i].route, route) == 0) {
      const cJSON *a = r->routes[i].next;
      if (a) r->routes[i].next = a->next;
      return a;
    }
  }
  return NULL;
}

static bool offline_at(Replay *r, uint64_t elapsed) {
  const cJSON *windows = obj_get(r->sc, "offline_ms");
  for (const cJSON *w = windows ? windows->child : NULL; w; w = w->next) {
    const cJSON *from = cJSON_GetArrayItem(w, 0), *to = cJSON_GetArrayItem(w, 1);
    if (elapsed >= (uint64_t)from->valuedouble && elapsed < (uint64_t)to->valuedouble) return true;
  }
  return false;
}

static int pair_cmp(const void *a, const void *b) {
  const char *const *x = a, *const *y = b;
  int c = strcmp(x[0], y[0]);
  return c ? c : strcmp(x[1], y[1]);
}

/* Query pairs as serde_json's ordered map would hold them: first place, last value. */
static size_t query_map(const cJSON *query, const char *(*out)[2], size_t max) {
  size_t n = 0;
  for (const cJSON *p = query ? query->child : NULL; p; p = p->next) {
    const char *k = cJSON_GetArrayItem(p, 0)->valuestring, *v = cJSON_GetArrayItem(p, 1)->valuestring;
    size_t i = 0;
    while (i < n && strcmp(out[i][0], k) != 0) i++;
    if (i < n) {
      out[i][1] = v;
    } else if (n < max) {
      out[n][0] = k;
      out[n][1] = v;
      n++;
    }
  }
  return n;
}

static bool on_http(Replay *r, const cJSON *out) {
  const char *method = obj_get(out, "method")->valuestring, *path = obj_get(out, "path")->valuestring;
  const cJSON *body = obj_get(out, "body"), *headers = obj_get(out, "headers");
  uint64_t id = (uint64_t)obj_get(out, "id")->valuedouble;
  const char *query[32][2];
  size_t nq = query_map(obj_get(out, "query"), query, 32);

  /* The bearer token: the first Authorization header, without "Bearer ". */
  const char *bearer = NULL;
  for (const cJSON *h = headers ? headers->child : NULL; h; h = h->next) {
    const char *name = cJSON_GetArrayItem(h, 0)->valuestring, *value = cJSON_GetArrayItem(h, 1)->valuestring;
    if (strcasecmp(name, "authorization") == 0) {
      if (strncmp(value, "Bearer ", 7) == 0) bearer = value + 7;
      break;
    }
  }

  Sb *t = &r->trace;
  line_start(r);
  sb_puts(t, "\"request\":{\"method\":");
  json_string(t, method);
  sb_puts(t, ",\"path\":");
  json_string(t, path);
  sb_puts(t, ",\"query\":{");
  for (size_t i = 0; i < nq; i++) {
    if (i) sb_putc(t, ',');
    json_string(t, query[i][0]);
    sb_putc(t, ':');
    json_string(t, query[i][1]);
  }
  sb_puts(t, "},\"bearer\":");
  json_string_or_null(t, bearer);
  sb_puts(t, ",\"body\":");
  if (cJSON_IsString(body)) {
    cJSON *parsed = json_parse(body->valuestring);
    if (parsed)
      json_value(t, parsed);
    else
      json_string(t, body->valuestring);
    cJSON_Delete(parsed);
  } else {
    sb_puts(t, "null");
  }
  sb_putc(t, '}');
  line_end(r);

  /* The label `expect.requests` compares: METHOD /path?k=v&... with the pairs sorted. */
  Sb label = {0};
  sb_printf(&label, "%s %s", method, path);
  qsort(query, nq, sizeof query[0], pair_cmp);
  for (size_t i = 0; i < nq; i++) sb_printf(&label, "%c%s=%s", i ? '&' : '?', query[i][0], query[i][1]);
  list_push(&r->requests, label.buf ? label.buf : "");
  sb_free(&label);

  /* Take the route's next answer, unless the network is down. */
  Sb route = {0};
  sb_printf(&route, "%s %s", method, path);
  const cJSON *answer = offline_at(r, r->now - r->start_ms) ? NULL : route_pop(r, route.buf);
  sb_free(&route);
  const cJSON *delay = obj_opt(answer, "delay_ms");
  uint64_t at = r->now + (delay ? (uint64_t)delay->valuedouble : 0);
  r->due = xrealloc(r->due, (r->ndue + 1) * sizeof *r->due);
  r->due[r->ndue++] = (Due){.at = at, .seq = ++r->seq, .request_id = id, .answer = answer};
  return true;
}

static int str_ptr_cmp(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Hands answer `d` to the machine. */
static bool deliver(Replay *r, Due d) {
  GsError err = {0};
  const cJSON *a = d.answer;
  if (!a || cJSON_IsTrue(obj_opt(a, "network_error"))) {
    if (gs_machine_handle_transport_failure(r->m, r->now, d.request_id, "fetch failed", &err) != GS_ERROR_CODE_OK)
      return fail_api(r, "gs_machine_handle_transport_failure", &err);
    return true;
  }
  const cJSON *status = obj_opt(a, "status"), *headers = obj_opt(a, "headers");
  const cJSON *raw = obj_opt(a, "raw_body"), *body = obj_opt(a, "body");

  /* content-type first, then the scripted headers sorted by name (replay.rs's BTreeMap). */
  Sb h = {0};
  sb_puts(&h, "[[\"content-type\",\"application/json\"]");
  size_t nh = (size_t)cJSON_GetArraySize(headers);
  const char **names = xrealloc(NULL, (nh ? nh : 1) * sizeof *names);
  size_t n = 0;
  for (const cJSON *c = headers ? headers->child : NULL; c; c = c->next) {
    bool seen = false;
    for (size_t i = 0; i < n; i++) seen |= strcmp(names[i], c->string) == 0;
    if (!seen) names[n++] = c->string;
  }
  qsort(names, n, sizeof *names, str_ptr_cmp);
  for (size_t i = 0; i < n; i++) {
    const cJSON *v = obj_get(headers, names[i]);
    if (!cJSON_IsString(v)) {
      free(names);
      sb_free(&h);
      return fail(r, "header %s is not a string", names[i]);
    }
    sb_putc(&h, ',');
    sb_putc(&h, '[');
    json_string(&h, names[i]);
    sb_putc(&h, ',');
    json_string(&h, v->valuestring);
    sb_putc(&h, ']');
  }
  free(names);
  sb_putc(&h, ']');

  Sb b = {0};
  if (cJSON_IsString(raw))
    sb_puts(&b, raw->valuestring);
  else if (body)
    json_value(&b, body);
  uint16_t code = status ? (uint16_t)status->valuedouble : 200;
  GsErrorCode rc = gs_machine_handle_response(r->m, r->now, d.request_id, code, h.buf, (const uint8_t *)b.buf,
                                              b.len, &err);
  sb_free(&h);
  sb_free(&b);
  if (rc != GS_ERROR_CODE_OK) return fail_api(r, "gs_machine_handle_response", &err);
  return true;
}

/* ---- outputs ---------------------------------------------------------------------------- */

static bool on_output(Replay *r, const cJSON *out) {
  const char *type = obj_get(out, "type")->valuestring;
  const cJSON *id = obj_get(out, "id"), *key = obj_get(out, "key");
  GsError err = {0};
  Sb *t = &r->trace;
  if (strcmp(type, "http") == 0) return on_http(r, out);
  if (strcmp(type, "storage_read") == 0) {
    GsErrorCode rc;
    if (fault(r, OP_READ, key->valuestring)) {
      rc = gs_machine_handle_storage_read(r->m, r->now, (uint64_t)id->valuedouble, NULL, "injected read failure",
                                          &err);
    } else {
      Entry *e = store_find(r, key->valuestring);
      rc = gs_machine_handle_storage_read(r->m, r->now, (uint64_t)id->valuedouble, e ? e->value : NULL, NULL, &err);
    }
    return rc == GS_ERROR_CODE_OK || fail_api(r, "gs_machine_handle_storage_read", &err);
  }
  if (strcmp(type, "storage_write") == 0) {
    const char *failure = NULL;
    if (fault(r, OP_WRITE, key->valuestring)) {
      failure = "injected write failure";
    } else {
      const char *value = obj_get(out, "value")->valuestring;
      line_start(r);
      sb_puts(t, "\"storage_set\":{\"key\":");
      json_string(t, key->valuestring);
      if (!ends_with(key->valuestring, "-code-verifier")) {
        sb_puts(t, ",\"tokens\":");
        tokens_of(t, value);
      }
      sb_putc(t, '}');
      line_end(r);
      store_set(r, key->valuestring, value);
    }
    if (gs_machine_handle_storage_done(r->m, r->now, (uint64_t)id->valuedouble, failure, &err) != GS_ERROR_CODE_OK)
      return fail_api(r, "gs_machine_handle_storage_done", &err);
    return true;
  }
  if (strcmp(type, "storage_remove") == 0) {
    const char *failure = NULL;
    if (fault(r, OP_REMOVE, key->valuestring)) {
      failure = "injected remove failure";
    } else {
      bool existed = store_remove(r, key->valuestring);
      line_start(r);
      sb_puts(t, "\"storage_remove\":{\"key\":");
      json_string(t, key->valuestring);
      sb_printf(t, ",\"existed\":%s}", existed ? "true" : "false");
      line_end(r);
    }
    if (gs_machine_handle_storage_done(r->m, r->now, (uint64_t)id->valuedouble, failure, &err) != GS_ERROR_CODE_OK)
      return fail_api(r, "gs_machine_handle_storage_done", &err);
    return true;
  }
  if (strcmp(type, "event") == 0) {
    const char *kind = obj_get(out, "kind")->valuestring;
    const cJSON *tok = obj_get(out, "access_token");
    const char *token = cJSON_IsString(tok) ? tok->valuestring : NULL;
    list_push(&r->event_names, kind);
    list_push(&r->event_tokens, token);
    line_start(r);
    sb_puts(t, "\"event\":");
    json_string(t, kind);
    sb_puts(t, ",\"access_token\":");
    json_string_or_null(t, token);
    line_end(r);
    return true;
  }
  if (strcmp(type, "complete") == 0) {
    uint64_t op = (uint64_t)obj_get(out, "op")->valuedouble;
    for (size_t i = 0; i < r->ncalls; i++) {
      if (r->calls[i].op == op) {
        Call c = r->calls[i];
        r->calls[i] = r->calls[--r->ncalls];
        result_line(r, c.name, c.step, out);
        free(c.name);
        break;
      }
    }
    return true;
  }
  /* storage_unlock: one process per replay, nobody to lock out; diagnostic: logs only. */
  if (strcmp(type, "storage_unlock") == 0 || strcmp(type, "diagnostic") == 0) return true;
  return fail(r, "unknown output type %s", type);
}

/* ---- the clock -------------------------------------------------------------------------- */

/* The earliest due answer (by time, then arrival), or -1. */
static long earliest_due(Replay *r) {
  long best = -1;
  for (size_t i = 0; i < r->ndue; i++) {
    Due *d = &r->due[i], *b = best < 0 ? NULL : &r->due[best];
    if (!b || d->at < b->at || (d->at == b->at && d->seq < b->seq)) best = (long)i;
  }
  return best;
}

static bool next_event_time(Replay *r, uint64_t *t) {
  bool any = false;
  long i = earliest_due(r);
  if (i >= 0) {
    *t = r->due[i].at;
    any = true;
  }
  uint64_t timer = 0;
  if (r->m && gs_machine_poll_timeout(r->m, &timer)) {
    if (!any || timer < *t) *t = timer;
    any = true;
  }
  return any;
}

/* Runs everything due at `now`: outputs, answers whose time has come, timers. */
static bool drain(Replay *r) {
  for (long rounds = 1;; rounds++) {
    if (rounds > MAX_ROUNDS_PER_INSTANT) return fail(r, "the machine keeps working without the clock moving");
    if (!r->m) return true;
    GsError err = {0};
    char *json = gs_machine_poll_output(r->m, &err);
    if (err.code != GS_ERROR_CODE_OK) return fail_api(r, "gs_machine_poll_output", &err);
    if (json) {
      cJSON *out = json_parse(json);
      gs_string_free(json);
      if (!out) return fail(r, "an output is not JSON");
      bool ok = on_output(r, out);
      cJSON_Delete(out);
      if (!ok) return false;
      continue;
    }
    long i = earliest_due(r);
    if (i >= 0 && r->due[i].at <= r->now) {
      Due d = r->due[i];
      memmove(&r->due[i], &r->due[i + 1], (r->ndue - (size_t)i - 1) * sizeof *r->due);
      r->ndue--;
      if (!deliver(r, d)) return false;
      continue;
    }
    uint64_t at = 0;
    if (gs_machine_poll_timeout(r->m, &at) && at <= r->now) {
      if (gs_machine_handle_timeout(r->m, r->now, &err) != GS_ERROR_CODE_OK)
        return fail_api(r, "gs_machine_handle_timeout", &err);
      continue;
    }
    return true;
  }
}

/* ---- steps ------------------------------------------------------------------------------ */

static bool call_step(Replay *r, const cJSON *step, const char *name) {
  GsError err = {0};
  bool plain = strcmp(name, "start_auto_refresh") == 0 || strcmp(name, "stop_auto_refresh") == 0 ||
               strcmp(name, "lifecycle") == 0 || strcmp(name, "network") == 0;
  if (!r->m) {
    if (strcmp(name, "initialize") != 0) return fail(r, "%s before initialize", name);
    r->m = gs_machine_new(r->config_json, &err);
    if (!r->m) return fail_api(r, "gs_machine_new", &err);
  }
  GsErrorCode rc;
  if (plain) {
    const cJSON *state = obj_get(step, "state");
    const char *s = cJSON_IsString(state) ? state->valuestring : "";
    if (strcmp(name, "start_auto_refresh") == 0 || strcmp(name, "stop_auto_refresh") == 0) {
      rc = gs_machine_set_auto_refresh(r->m, r->now, strcmp(name, "start_auto_refresh") == 0, &err);
    } else if (strcmp(name, "lifecycle") == 0) {
      if (strcmp(s, "foreground") != 0 && strcmp(s, "background") != 0) return fail(r, "lifecycle: unknown state");
      rc = gs_machine_handle_lifecycle(r->m, r->now, strcmp(s, "foreground") == 0, &err);
    } else {
      if (strcmp(s, "online") != 0 && strcmp(s, "offline") != 0) return fail(r, "network: unknown state");
      rc = gs_machine_handle_network(r->m, r->now, strcmp(s, "online") == 0, &err);
    }
    if (rc != GS_ERROR_CODE_OK) return fail_api(r, name, &err);
    plain_result(r, name);
  } else {
    /* A call step is a command as the C API spells it. */
    Sb cmd = {0};
    json_value(&cmd, step);
    uint64_t op = 0;
    rc = gs_machine_command(r->m, r->now, cmd.buf, &op, &err);
    sb_free(&cmd);
    if (rc != GS_ERROR_CODE_OK) return fail_api(r, "gs_machine_command", &err);
    r->calls = xrealloc(r->calls, (r->ncalls + 1) * sizeof *r->calls);
    r->calls[r->ncalls++] = (Call){.op = op, .name = xstrdup(name), .step = r->step};
  }
  return drain(r);
}

static bool whole_number(const cJSON *v) {
  return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble == floor(v->valuedouble);
}

static void restart(Replay *r) {
  gs_machine_free(r->m);
  r->m = NULL;
  for (size_t i = 0; i < r->ncalls; i++) free(r->calls[i].name);
  r->ncalls = 0;
  r->ndue = 0;
}

static bool apply(Replay *r, const cJSON *step) {
  const cJSON *v;
  if (!cJSON_IsObject(step)) return fail(r, "a step must be an object");
  if ((v = obj_get(step, "call"))) {
    if (!cJSON_IsString(v)) return fail(r, "`call` must be a string");
    return call_step(r, step, v->valuestring);
  }
  if ((v = obj_get(step, "advance_ms"))) {
    if (!whole_number(v)) return fail(r, "advance_ms must be a whole number of ms");
    uint64_t target = r->now + (uint64_t)v->valuedouble, t = 0;
    while (next_event_time(r, &t) && t <= target) {
      if (t > r->now) r->now = t;
      if (!drain(r)) return false;
    }
    r->now = target;
    return drain(r);
  }
  if ((v = obj_get(step, "storage_set"))) {
    const cJSON *key = obj_get(v, "key"), *value = obj_get(v, "value");
    if (!cJSON_IsString(key) || !cJSON_IsString(value)) return fail(r, "storage_set needs string key and value");
    store_set(r, key->valuestring, value->valuestring);
    return true;
  }
  if ((v = obj_get(step, "storage_fail"))) {
    const cJSON *op = obj_get(v, "op"), *times = obj_get(v, "times");
    int kind = -1;
    for (int i = 0; i < 3 && cJSON_IsString(op); i++)
      if (strcmp(op->valuestring, OP_NAMES[i]) == 0) kind = i;
    if (kind < 0) return fail(r, "storage_fail.op must be read, write or remove");
    if (times && !whole_number(times)) return fail(r, "storage_fail.times must be a count");
    r->faults[kind] += times ? (uint32_t)times->valuedouble : 1;
    return true;
  }
  if (obj_get(step, "restart")) {
    restart(r);
    return true;
  }
  return fail(r, "unknown step");
}

/* ---- expectations ----------------------------------------------------------------------- */

static int b64url_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

/* The `ref` claim of a JWT (decoded, never verified), as jwt::decode_claims reads it; NULL when
 * the token is no readable JWT or has no `ref`. The result is the caller's. */
static char *jwt_ref(const char *token) {
  const char *d1 = strchr(token, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
  if (!d2 || strchr(d2 + 1, '.')) return NULL;
  size_t n = (size_t)(d2 - d1 - 1);
  const char *p = d1 + 1;
  while (n > 0 && p[n - 1] == '=') n--;
  if (n % 4 == 1) return NULL;
  char *bytes = xrealloc(NULL, n + 1);
  size_t out = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++) {
    int v = b64url_value(p[i]);
    if (v < 0) {
      free(bytes);
      return NULL;
    }
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes[out++] = (char)((acc >> bits) & 0xff);
    }
  }
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) { /* non-canonical trailing bits */
    free(bytes);
    return NULL;
  }
  bytes[out] = '\0';
  char *ref = NULL;
  cJSON *claims = strlen(bytes) == out ? json_parse(bytes) : NULL;
  free(bytes);
  if (!cJSON_IsObject(claims)) {
    cJSON_Delete(claims);
    return NULL;
  }
  /* The claims decode only if each one the core reads has its type. */
  const cJSON *exp = obj_opt(claims, "exp");
  bool typed = !exp || (cJSON_IsNumber(exp) && exp->valuedouble == floor(exp->valuedouble));
  const char *strings[] = {"sub", "session_id", "ref"};
  for (int i = 0; i < 3; i++) {
    const cJSON *s = obj_opt(claims, strings[i]);
    if (s && !cJSON_IsString(s)) typed = false;
  }
  const cJSON *rf = obj_opt(claims, "ref");
  if (typed && rf) ref = xstrdup(rf->valuestring);
  cJSON_Delete(claims);
  return ref;
}

/* The tag of a session: the access token's `ref`, else the suffix of `rt-<tag>`, else "none". */
static char *tag_of(const char *access_token, const char *refresh_token) {
  char *ref = access_token ? jwt_ref(access_token) : NULL;
  if (ref) return ref;
  if (refresh_token && strncmp(refresh_token, "rt-", 3) == 0) return xstrdup(refresh_token + 3);
  return xstrdup("none");
}

/* Whether `list` (a JSON array of strings) equals `got`; NULL `list` is no expectation. */
static bool same_strings(const cJSON *list, const List *got) {
  size_t i = 0;
  for (const cJSON *c = list->child; c; c = c->next, i++)
    if (i >= got->len || !cJSON_IsString(c) || !got->items[i] || strcmp(c->valuestring, got->items[i]) != 0)
      return false;
  return i == got->len;
}

static void print_list(FILE *f, const List *l) {
  fputc('[', f);
  for (size_t i = 0; i < l->len; i++) fprintf(f, "%s\"%s\"", i ? ", " : "", l->items[i] ? l->items[i] : "");
  fputc(']', f);
}

/* Whether result `res` matches `pattern` (ok, ok:<tag>, err:<kind>, err:api:<status>:<code>);
 * -1 when the pattern is none of those. */
static int result_matches(const char *pattern, const Result *res) {
  char *copy = xstrdup(pattern), *parts[8];
  int n = 0;
  for (char *s = copy, *colon;; s = colon + 1) {
    colon = strchr(s, ':');
    if (n < 8) parts[n] = s;
    n++;
    if (!colon) break;
    *colon = '\0';
  }
  const char *kind = res->kind ? res->kind : "";
  bool api = strcmp(kind, "api") == 0;
  int m = -1;
  if (n == 1 && strcmp(parts[0], "ok") == 0) {
    m = res->ok;
  } else if (n == 2 && strcmp(parts[0], "ok") == 0) {
    char *got = NULL;
    if (res->ok && res->token_field) got = res->token ? tag_of(res->token, NULL) : xstrdup("none");
    m = got && strcmp(got, parts[1]) == 0;
    free(got);
  } else if (n == 2 && strcmp(parts[0], "err") == 0) {
    m = !res->ok && strcmp(kind, parts[1]) == 0;
  } else if (n == 4 && strcmp(parts[0], "err") == 0 && strcmp(parts[1], "api") == 0) {
    char status[24] = "";
    if (res->status >= 0) snprintf(status, sizeof status, "%ld", res->status);
    m = !res->ok && api && res->status >= 0 && strcmp(status, parts[2]) == 0 && res->code &&
        strcmp(res->code, parts[3]) == 0;
  }
  free(copy);
  return m;
}

/* Checks `expect`; prints each miss to stderr and returns how many there were. */
static int check_expect(Replay *r, const cJSON *expect) {
  int problems = 0;
  const cJSON *v;
  if (!expect) return 0;
  if ((v = obj_get(expect, "events")) && !same_strings(v, &r->event_names)) {
    fprintf(stderr, "%s: expectation not met: events were ", r->path);
    print_list(stderr, &r->event_names);
    fputc('\n', stderr);
    problems++;
  }
  if ((v = obj_get(expect, "requests")) && !same_strings(v, &r->requests)) {
    fprintf(stderr, "%s: expectation not met: requests were ", r->path);
    print_list(stderr, &r->requests);
    fputc('\n', stderr);
    problems++;
  }
  if ((v = obj_get(expect, "results"))) {
    for (const cJSON *c = v->child; c; c = c->next) {
      const Result *found = NULL;
      for (size_t i = 0; i < r->nresults && !found; i++) {
        char step[24];
        snprintf(step, sizeof step, "%zu", r->results[i].call_step);
        if (strcmp(step, c->string) == 0) found = &r->results[i];
      }
      const char *pattern = cJSON_IsString(c) ? c->valuestring : "";
      int m = found ? result_matches(pattern, found) : 0;
      if (!found) {
        fprintf(stderr, "%s: expectation not met: the call of step %s never completed (expected %s)\n", r->path,
                c->string, pattern);
        problems++;
      } else if (m < 0) {
        fprintf(stderr, "%s: expectation not met: step %s: the pattern \"%s\" is not ok, ok:<tag>, err:<kind> or "
                        "err:api:<status>:<code>\n", r->path, c->string, pattern);
        problems++;
      } else if (!m) {
        fprintf(stderr, "%s: expectation not met: step %s: expected %s, got %s%s\n", r->path, c->string, pattern,
                found->ok ? "ok" : "err:", found->ok ? "" : found->kind);
        problems++;
      }
    }
  }
  if ((v = obj_get(expect, "storage"))) {
    /* The final store as key -> tag, code-verifier keys left out, against the expected map. */
    size_t got = 0, want = (size_t)cJSON_GetArraySize(v);
    bool same = true;
    for (size_t i = 0; i < r->nstore; i++) {
      const Entry *e = &r->store[i];
      if (ends_with(e->key, "-code-verifier")) continue;
      got++;
      cJSON *s = json_parse(e->value);
      char *tag;
      if (!s) {
        tag = xstrdup("unparsable");
      } else {
        const cJSON *at = obj_get(s, "access_token"), *rt = obj_get(s, "refresh_token");
        tag = tag_of(cJSON_IsString(at) ? at->valuestring : NULL, cJSON_IsString(rt) ? rt->valuestring : NULL);
      }
      cJSON_Delete(s);
      const cJSON *w = obj_get(v, e->key);
      if (!cJSON_IsString(w) || strcmp(w->valuestring, tag) != 0) {
        fprintf(stderr, "%s: expectation not met: storage %s ended as %s\n", r->path, e->key, tag);
        same = false;
      }
      free(tag);
    }
    if (same && got != want) fprintf(stderr, "%s: expectation not met: storage holds %zu keys, expected %zu\n", r->path, got, want);
    if (!same || got != want) problems++;
  }
  if ((v = obj_get(expect, "never"))) {
    for (const cJSON *c = v->child; c; c = c->next)
      for (size_t i = 0; i < r->event_names.len; i++)
        if (cJSON_IsString(c) && strcmp(r->event_names.items[i], c->valuestring) == 0) {
          fprintf(stderr, "%s: expectation not met: %s occurred\n", r->path, c->valuestring);
          problems++;
          break;
        }
  }
  if ((v = obj_get(expect, "last_event"))) {
    const char *last = r->event_names.len ? r->event_names.items[r->event_names.len - 1] : NULL;
    if (!cJSON_IsString(v) || !last || strcmp(last, v->valuestring) != 0) {
      fprintf(stderr, "%s: expectation not met: the last event was %s\n", r->path, last ? last : "none");
      problems++;
    }
  }
  if ((v = obj_get(expect, "initial_session"))) {
    size_t i = 0;
    while (i < r->event_names.len && strcmp(r->event_names.items[i], "INITIAL_SESSION") != 0) i++;
    if (i == r->event_names.len) {
      fprintf(stderr, "%s: expectation not met: INITIAL_SESSION never occurred\n", r->path);
      problems++;
    } else {
      char *got = r->event_tokens.items[i] ? tag_of(r->event_tokens.items[i], NULL) : xstrdup("none");
      if (!cJSON_IsString(v) || strcmp(got, v->valuestring) != 0) {
        fprintf(stderr, "%s: expectation not met: INITIAL_SESSION carried %s\n", r->path, got);
        problems++;
      }
      free(got);
    }
  }
  return problems;
}

/* ---- a scenario ------------------------------------------------------------------------- */

static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  Sb b = {0};
  char chunk[8192];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) sb_putn(&b, chunk, n);
  fclose(f);
  return sb_take(&b);
}

static bool known_key(const char *key, const char *const *known) {
  for (int i = 0; known[i]; i++)
    if (strcmp(key, known[i]) == 0) return true;
  return false;
}

/* Loads the scenario into `r`: options, storage, server. */
static bool load(Replay *r) {
  const cJSON *sc = r->sc, *v;
  if (!cJSON_IsObject(sc)) return fail(r, "not a scenario: not a JSON object");
  if (!cJSON_IsArray(obj_get(sc, "steps"))) return fail(r, "not a scenario: no steps");
  r->start_ms = (v = obj_opt(sc, "start_ms")) ? (uint64_t)v->valuedouble : DEFAULT_START_MS;
  r->now = r->start_ms;

  static const char *const options[] = {"storage_key", "auto_refresh_token", "persist_session", "is_server",
                                        "session_not_found", "verify_cooldown_ms", NULL};
  const cJSON *o = obj_opt(sc, "options");
  for (const cJSON *c = o ? o->child : NULL; c; c = c->next)
    if (!known_key(c->string, options)) return fail(r, "not a scenario: unknown option %s", c->string);
  const cJSON *key = obj_opt(o, "storage_key"), *snf = obj_opt(o, "session_not_found");
  const char *policy = cJSON_IsString(snf) ? snf->valuestring : "verify";
  if (strcmp(policy, "verify") != 0 && strcmp(policy, "remove") != 0 && strcmp(policy, "defer") != 0)
    return fail(r, "options.session_not_found must be verify, remove or defer");
  /* Any whole number is passed on: the range is the library's to check (gs_machine_new fails at
   * initialize, as the Rust replay does), so a value it rejects fails the same way here. */
  const cJSON *cooldown = obj_opt(o, "verify_cooldown_ms");
  if (cooldown && (!cJSON_IsNumber(cooldown) || cooldown->valuedouble != floor(cooldown->valuedouble)))
    return fail(r, "options.verify_cooldown_ms must be a whole number of ms");
  Sb cfg = {0};
  sb_puts(&cfg, "{\"storage_key\":");
  json_string(&cfg, cJSON_IsString(key) ? key->valuestring : "sb-test-auth-token");
  sb_printf(&cfg, ",\"api_key\":\"test-anon-key\",\"auto_refresh\":%s,\"persist_session\":%s,\"jitter\":false",
            cJSON_IsTrue(obj_opt(o, "auto_refresh_token")) ? "true" : "false",
            cJSON_IsFalse(obj_opt(o, "persist_session")) ? "false" : "true");
  sb_puts(&cfg, ",\"session_not_found\":");
  json_string(&cfg, policy);
  if (cooldown) sb_printf(&cfg, ",\"verify_cooldown_ms\":%.0f", cooldown->valuedouble);
  sb_putc(&cfg, '}');
  r->config_json = sb_take(&cfg);

  const cJSON *storage = obj_opt(sc, "storage");
  for (const cJSON *c = storage ? storage->child : NULL; c; c = c->next) {
    if (!cJSON_IsString(c)) return fail(r, "storage values must be strings");
    store_set(r, c->string, obj_get(storage, c->string)->valuestring);
  }

  const cJSON *server = obj_opt(sc, "server");
  for (const cJSON *c = server ? server->child : NULL; c; c = c->next) {
    if (!cJSON_IsArray(c)) return fail(r, "server route %s must hold a list of answers", c->string);
    const char *space = strchr(c->string, ' ');
    if (!space || space[1] != '/') return fail(r, "server route %s is not \"METHOD /path\"", c->string);
    r->routes = xrealloc(r->routes, (r->nroutes + 1) * sizeof *r->routes);
    r->routes[r->nroutes++] = (Route){.route = c->string, .next = c->child};
  }

  const cJSON *windows = obj_opt(sc, "offline_ms");
  for (const cJSON *w = windows ? windows->child : NULL; w; w = w->next) {
    const cJSON *from = cJSON_GetArrayItem(w, 0), *to = cJSON_GetArrayItem(w, 1);
    if (cJSON_GetArraySize(w) != 2 || !whole_number(from) || !whole_number(to) || from->valuedouble > to->valuedouble)
      return fail(r, "offline_ms windows are [from, to] with from <= to");
  }
  return true;
}

static void replay_free(Replay *r) {
  restart(r);
  for (size_t i = 0; i < r->nstore; i++) {
    free(r->store[i].key);
    free(r->store[i].value);
  }
  free(r->store);
  free(r->routes);
  free(r->calls);
  free(r->due);
  free(r->config_json);
  sb_free(&r->trace);
  list_free(&r->event_names);
  list_free(&r->event_tokens);
  list_free(&r->requests);
  for (size_t i = 0; i < r->nresults; i++) {
    free(r->results[i].kind);
    free(r->results[i].code);
    free(r->results[i].token);
  }
  free(r->results);
  free(r->error);
}

/* Replays one file: 0 met, 1 an expectation missed, 2 a bad file or an API failure. */
static int replay_file(const char *path) {
  char *text = read_file(path);
  if (!text) {
    fprintf(stderr, "error: %s: cannot read\n", path);
    return 2;
  }
  Replay r = {0};
  r.path = path;
  r.sc = json_parse(text);
  free(text);
  int code = 0;
  if (!r.sc) {
    fprintf(stderr, "error: %s: not a scenario: not JSON\n", path);
    return 2;
  }
  bool ok = load(&r);
  const cJSON *steps = obj_get(r.sc, "steps");
  r.step = 0;
  for (const cJSON *s = ok ? steps->child : NULL; s && ok; s = s->next, r.step++) ok = apply(&r, s);
  if (ok) {
    r.step = (size_t)cJSON_GetArraySize(steps);
    /* The last line: what storage holds, keys sorted. */
    qsort(r.store, r.nstore, sizeof *r.store, entry_cmp);
    line_start(&r);
    sb_puts(&r.trace, "\"end\":{\"storage\":{");
    for (size_t i = 0; i < r.nstore; i++) {
      if (i) sb_putc(&r.trace, ',');
      json_string(&r.trace, r.store[i].key);
      sb_putc(&r.trace, ':');
      if (ends_with(r.store[i].key, "-code-verifier"))
        sb_puts(&r.trace, "{\"present\":true}");
      else
        tokens_of(&r.trace, r.store[i].value);
    }
    sb_puts(&r.trace, "}}");
    line_end(&r);
    fwrite(r.trace.buf, 1, r.trace.len, stdout);
    code = check_expect(&r, obj_opt(r.sc, "expect")) ? 1 : 0;
  } else {
    fprintf(stderr, "error: %s: %s\n", path, r.error ? r.error : "failed");
    code = 2;
  }
  replay_free(&r);
  cJSON_Delete((cJSON *)r.sc);
  return code;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s FILE...   (replays scenario files through the gotrue-session C API %s)\n", argv[0],
            gs_version());
    return 2;
  }
  int code = 0;
  for (int i = 1; i < argc; i++) {
    int c = replay_file(argv[i]);
    if (c == 2) return 2;
    if (c > code) code = c;
  }
  return code;
}
