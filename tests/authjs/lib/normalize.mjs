// Normalizes a replay trace (ours or auth-js's) into the four things the comparison looks at:
//
// - events:   "NAME:<tag>" in order, the tag naming the session the event carries ("none" for null);
// - requests: "METHOD /path?sorted-query" in order;
// - results:  call step -> ok | ok:<tag> | ok:none | err:<kind>, with ":<status>:<code>" after
//             api errors and after session_missing errors that carry a code;
// - storage:  the final store, key -> tag ("unparsable" for a value that is not a session).
//
// What is left out on purpose, as noise rather than behaviour:
// - storage_set / storage_remove / storage_error lines. What the store holds at the end is
//   compared; how it got there is not. auth-js removes keys that do not exist (the
//   `-flows-code-verifier` index of its multi-flow PKCE storage, `-code-verifier` and `-user` on
//   every sign-out), writes the PKCE index, and may write the same value twice; none of that is
//   visible to an app.
// - every key ending in `-code-verifier`, in the final store too (the verifier and auth-js's
//   flow index): a PKCE verifier is not a session, and auth-js's index key has no counterpart.
// - the step a line belongs to, and how result lines interleave with events and requests: auth-js
//   resolves a call's promise a few microtasks after the event it emitted, our core completes it
//   right after. The order within each list is compared.
// - request bearers and bodies: the label names the endpoint and grant; which session a request
//   serves shows up in the events, results and final store it leads to.

/** The tag of a token: the `ref` claim of a test JWT, or the suffix of `rt-<tag>`. */
export function tagOfToken(token) {
  if (typeof token !== 'string') return null
  if (token.startsWith('rt-')) return token.slice(3)
  const parts = token.split('.')
  if (parts.length !== 3) return null
  try {
    const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'))
    return typeof claims?.ref === 'string' ? claims.ref : null
  } catch {
    return null
  }
}

export function tagOfStored(v) {
  if (v == null) return 'none'
  if (v.unparsable) return 'unparsable'
  return tagOfToken(v.access_token) ?? tagOfToken(v.refresh_token) ?? 'none'
}

export function requestLabel(req) {
  const query = Object.entries(req.query ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  const qs = query.map(([k, v]) => `${k}=${v}`).join('&')
  return `${req.method} ${req.path}${qs ? '?' + qs : ''}`
}

export function resultLabel(r) {
  if (r.ok) {
    if (!('access_token' in r)) return 'ok'
    return r.access_token == null ? 'ok:none' : `ok:${tagOfToken(r.access_token) ?? 'none'}`
  }
  const e = r.error ?? {}
  const kind = e.kind ?? 'unknown'
  if (kind === 'api' || (kind === 'session_missing' && e.code != null)) return `err:${kind}:${e.status}:${e.code}`
  return `err:${kind}`
}

/** { events, requests, results, storage, finished } of a list of trace lines. */
export function normalize(lines) {
  const out = { events: [], requests: [], results: {}, storage: {}, finished: false }
  for (const l of lines) {
    if (l.event !== undefined) out.events.push(`${l.event}:${tagOfToken(l.access_token) ?? 'none'}`)
    else if (l.request) out.requests.push(requestLabel(l.request))
    else if (l.result) {
      const step = String(l.result.call_step)
      if (!(step in out.results)) out.results[step] = resultLabel(l.result)
    } else if (l.end) {
      out.finished = true
      for (const [key, v] of Object.entries(l.end.storage ?? {})) {
        if (!key.endsWith('-code-verifier')) out.storage[key] = tagOfStored(v)
      }
    }
  }
  return out
}

export const ASPECTS = ['events', 'requests', 'results', 'storage']

const show = {
  events: (v) => v.join(', ') || '(none)',
  requests: (v) => v.join(', ') || '(none)',
  results: (v) =>
    Object.keys(v)
      .sort((a, b) => Number(a) - Number(b))
      .map((k) => `${k}=${v[k]}`)
      .join(', ') || '(none)',
  storage: (v) =>
    Object.keys(v)
      .sort()
      .map((k) => `${k}=${v[k]}`)
      .join(', ') || '{}',
}

/** The aspects in which two normalized traces differ, each with both sides shown. */
export function differences(ours, theirs) {
  const diffs = []
  for (const aspect of ASPECTS) {
    const a = show[aspect](ours[aspect])
    const b = show[aspect](theirs[aspect])
    if (a !== b) diffs.push({ aspect, ours: a, authjs: b })
  }
  return diffs
}
