/*
 * minimal.c: a machine over an empty in-memory store, initialized; prints every output.
 *
 *   gcc -Ibindings/c/include minimal.c target/release/libgotrue_session_c.a -lcjson -lpthread -ldl -lm
 */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "gotrue_session.h"

int main(void) {
  GsError err = {0}; /* zero-initialized before first use */
  GsMachine *m = gs_machine_new("{\"storage_key\":\"sb-demo-auth-token\",\"api_key\":\"anon-key\"}", &err);
  if (!m) {
    fprintf(stderr, "gs_machine_new: %s\n", err.message);
    gs_error_clear(&err);
    return 1;
  }

  uint64_t now = 1767225600000; /* the platform's clock, Unix ms */
  uint64_t init = 0;
  int status = 1;
  if (gs_machine_command(m, now, "{\"call\":\"initialize\"}", &init, &err) != GS_ERROR_CODE_OK) goto done;

  /* After every input, drain the outputs in order and carry each out. */
  char *json;
  while ((json = gs_machine_poll_output(m, &err)) != NULL) {
    printf("%s\n", json);
    cJSON *out = cJSON_Parse(json);
    gs_string_free(json); /* ours to free */
    const char *type = cJSON_GetObjectItem(out, "type")->valuestring;
    if (strcmp(type, "storage_read") == 0) {
      /* Nothing is stored: "absent" is a NULL value and a NULL failure. */
      uint64_t id = (uint64_t)cJSON_GetObjectItem(out, "id")->valuedouble;
      gs_machine_handle_storage_read(m, now, id, NULL, NULL, &err);
    } else if (strcmp(type, "complete") == 0 && (uint64_t)cJSON_GetObjectItem(out, "op")->valuedouble == init) {
      status = cJSON_IsTrue(cJSON_GetObjectItem(out, "ok")) ? 0 : 1;
    }
    cJSON_Delete(out);
    if (err.code != GS_ERROR_CODE_OK) break;
  }

  /* A mistake comes back as a code and a message (which names the field, never its value). */
  if (gs_machine_command(m, now, "{\"call\":\"sign_in_with_password\",\"password\":7}", NULL, &err) != GS_ERROR_CODE_OK)
    printf("error %d: %s\n", (int)err.code, err.message);

done:
  if (err.code != GS_ERROR_CODE_OK && status != 0) fprintf(stderr, "error: %s\n", err.message);
  gs_error_clear(&err);
  gs_machine_free(m);
  return status;
}
