// Seed corpora for the fuzz targets, taken from the scenario corpus (tests/scenarios): the stored
// values, answers, tokens and commands real scenarios use, written in each target's input format,
// so that libFuzzer starts from realistic inputs and mutates them.
//   node fuzz/seeds.mjs OUT_DIR      writes OUT_DIR/<target>/<n> for every target
import { readdirSync, readFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = process.argv[2];
if (!out) {
  console.error("usage: node fuzz/seeds.mjs OUT_DIR");
  process.exit(2);
}
const seeds = {};
// Each seed is the concatenation of its parts: strings (written as UTF-8) and buffers.
const add = (target, ...parts) => {
  const data = Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p, "utf8") : p)));
  (seeds[target] ??= new Map()).set(data.toString("base64"), data);
};
const bodyText = (a) => (a.raw_body !== undefined ? a.raw_body : a.body === undefined ? "" : JSON.stringify(a.body));
const httpText = (a) => {
  const headers = Object.entries(a.headers ?? {}).map(([k, v]) => `${k}: ${v}\n`).join("");
  return `${a.status ?? 200}\n${headers}\n${bodyText(a)}`;
};
const le64 = (n) => {
  const b = Buffer.alloc(8);
  b.writeBigInt64LE(BigInt(n));
  return b;
};
const tokens = (text) => text.match(/eyJ[\w-]*\.[\w-]*\.[\w-]*/g) ?? [];

const dir = join(root, "tests", "scenarios");
for (const file of readdirSync(dir).filter((f) => f.endsWith(".json")).sort()) {
  const text = readFileSync(join(dir, file), "utf8");
  add("scenario", text);
  const sc = JSON.parse(text);
  const key = sc.options?.storage_key ?? "sb-test-auth-token";
  const stored = [...Object.values(sc.storage ?? {}), ...(sc.steps ?? []).flatMap((s) => (s.storage_set ? [s.storage_set.value] : []))];
  for (const value of stored) {
    add("stored_session", value);
    tokens(value).forEach((t) => add("jwt", t));
    add("c_api", [JSON.stringify({ storage_key: key, api_key: "anon" }), `{"call":"get_user"}`, "{}", "", value].join("\0"));
  }
  for (const [route, answers] of Object.entries(sc.server ?? {})) {
    for (const a of answers) {
      if (a.network_error) continue;
      const body = bodyText(a);
      const ok = (a.status ?? 200) < 300;
      tokens(body).forEach((t) => add("jwt", t));
      if (!ok) add("classify", httpText(a));
      if (ok && route === "GET /user") add("user_answer", body);
      if (ok && route !== "GET /user") add("token_answer", le64(sc.start_ms ?? 1767225600000), body);
      if (route === "POST /token" || route === "POST /verify") {
        // A PKCE exchange with a stored verifier, and the OTP flows.
        add("pkce_otp", `\x00"verifier-1"\x00${httpText(a)}`);
        add("pkce_otp", `\x01\x00${httpText(a)}`);
        add("pkce_otp", `\x02\x00${httpText(a)}`);
      }
      const headers = JSON.stringify(a.headers ?? {});
      for (const step of (sc.steps ?? []).filter((s) => s.call)) {
        add("c_api", [JSON.stringify({ storage_key: key, api_key: "anon" }), JSON.stringify(step), headers, body, stored[0] ?? ""].join("\0"));
      }
    }
  }
}
// What the scenarios lack: hostile shapes, as starting points for the mutations.
const deep = (n) => "[".repeat(n) + "]".repeat(n);
const hostileSessions = [
  `{"access_token":"a.b.c","refresh_token":"r","expires_in":1e300}`,
  `{"access_token":"a.b.c","refresh_token":"r","expires_at":-1e300,"expires_in":-9223372036854775808}`,
  `{"access_token":"a.b.c","refresh_token":"r","expires_at":5,"user":{"id":"u","user_metadata":${deep(40)}}}`,
  `{"access_token":"a.b.c","refresh_token":"r","expires_at":5,"user":{"\u0069d":"u","id":"v"},"x":[1E15,-0,1e-400]}`,
];
for (const s of hostileSessions) {
  add("stored_session", s);
  add("token_answer", le64(1767225600000), s);
  add("pkce_otp", `\x01\x00200\n\n${s}`);
}
add("user_answer", `{"id":"u","user_metadata":${deep(40)}}`);
add("user_answer", `{"id":"u","email":null,"phone":"\ud800","is_anonymous":true}`);
add("classify", `429\nretry-after: 18446744073709551615\n\n{"code":"over_request_rate_limit"}`);
add("classify", `400\nx-supabase-api-version: 2024-01-01\nx-sb-error-code: user_banned\n\n<html>bad gateway</html>`);
add("classify", `403\nx-supabase-api-version: 9999-99-99\n\n{"code":7,"error_code":"session_not_found","msg":"m"}`);
add("jwt", `eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjFlMzAwLCJzdWIiOm51bGx9.c2ln==`);

let total = 0;
for (const [target, set] of Object.entries(seeds)) {
  const targetDir = join(out, target);
  mkdirSync(targetDir, { recursive: true });
  [...set.values()].forEach((data, i) => writeFileSync(join(targetDir, String(i)), data));
  total += set.size;
}
console.log(`seeds: ${total} inputs for ${Object.keys(seeds).length} targets in ${out}`);
