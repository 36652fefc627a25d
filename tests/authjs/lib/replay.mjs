// Replays one scenario (shared/scenario-format.md) against the real @supabase/auth-js client.
//
// A run owns a small world: the key-value store every client process shares, the server's answer
// queues, the injected storage faults, and the current client process. A `restart` step kills the
// process: its timers are dropped, and whatever it still tries to do (a storage operation, a
// request, an answer arriving) never returns, as in a killed app. Trace lines go to `emit`.

import { GoTrueClient } from '@supabase/auth-js'

export const AUTH_URL = 'https://project-ref.supabase.test/auth/v1'
const AUTH_PATH = new URL(AUTH_URL).pathname
const DEFAULT_START_MS = 1767225600000
const DEFAULT_OPTIONS = {
  storage_key: 'sb-test-auth-token',
  auto_refresh_token: false,
  persist_session: true,
  is_server: false,
  // This project's extensions (how our core treats /user session_not_found, and how long after
  // a successful verify refresh it makes no other); auth-js has one behaviour and no cooldown, so
  // the options are accepted and have no effect here.
  session_not_found: null,
  verify_cooldown_ms: null,
}
// Statuses whose answers cannot carry a body (the Response constructor refuses one).
const NULL_BODY_STATUSES = new Set([101, 204, 205, 304])

/** The error a failing store throws; `kind` of a result names it `storage`. */
export class InjectedStorageFailure extends Error {
  constructor(op, key) {
    super(`injected storage ${op} failure (${key})`)
    this.name = 'InjectedStorageFailure'
  }
}

const never = () => new Promise(() => {})

/** `{access_token, refresh_token}` of a raw stored value, or `{unparsable: true}`. */
export function tokensOf(raw) {
  try {
    const v = JSON.parse(raw)
    return { access_token: v?.access_token ?? null, refresh_token: v?.refresh_token ?? null }
  } catch {
    return { unparsable: true }
  }
}

const isVerifierKey = (key) => key.endsWith('-code-verifier')

// auth-js error classes (by `name`) and the error kinds of scenario-format.md.
const KIND_OF_CLASS = {
  AuthSessionMissingError: 'session_missing',
  AuthApiError: 'api',
  AuthWeakPasswordError: 'api',
  AuthRetryableFetchError: 'retryable_fetch',
  AuthUnknownError: 'invalid_response',
  AuthInvalidTokenResponseError: 'invalid_response',
  AuthRefreshDiscardedError: 'refresh_discarded',
  AuthInvalidJwtError: 'invalid_input',
  AuthPKCECodeVerifierMissingError: 'invalid_input',
  AuthInvalidCredentialsError: 'invalid_input',
}

/** The trace's `error` object for whatever auth-js returned or threw. */
export function describeError(e) {
  if (e == null) return null
  // A failed store surfaces either as itself (thrown through a public method) or wrapped in an
  // AuthUnknownError by initialize; both are the store failing, not the server answering.
  const storage = e instanceof InjectedStorageFailure || e?.originalError instanceof InjectedStorageFailure
  const kind = storage ? 'storage' : (KIND_OF_CLASS[e?.name] ?? `authjs:${e?.name ?? typeof e}`)
  return { kind, status: e?.status ?? null, code: e?.code ?? null, name: e?.name ?? null }
}

// How each scenario call drives auth-js, and what its result line reports besides ok/error.
const withSession = (promise) =>
  promise.then(({ data, error }) => ({ error, access_token: data?.session?.access_token ?? null }))
const withUser = (promise) => promise.then(({ data, error }) => ({ error, user_id: data?.user?.id ?? null }))
const plain = (promise) => promise.then((r) => ({ error: r?.error ?? null }))

const CALLS = {
  get_session: (c) => withSession(c.getSession()),
  get_user: (c) => withUser(c.getUser()),
  get_user_with_jwt: (c, s) => withUser(c.getUser(s.jwt)),
  refresh_session: (c) => withSession(c.refreshSession()),
  set_session: (c, s) => withSession(c.setSession({ access_token: s.access_token, refresh_token: s.refresh_token })),
  sign_out: (c, s) => plain(c.signOut({ scope: s.scope ?? 'global' })),
  sign_in_with_password: (c, s) => withSession(c.signInWithPassword({ email: s.email, password: s.password })),
  exchange_code: (c, s) => withSession(c.exchangeCodeForSession(s.auth_code)),
  sign_in_with_id_token: (c, s) => withSession(c.signInWithIdToken({ provider: s.provider, token: s.token })),
  sign_in_anonymously: (c) => withSession(c.signInAnonymously()),
  verify_otp: (c, s) => withSession(c.verifyOtp({ email: s.email, token: s.token, type: s.type ?? 'email' })),
  start_auto_refresh: (c, s, proc) => {
    proc.autoRefresh = true
    return plain(c.startAutoRefresh())
  },
  stop_auto_refresh: (c, s, proc) => {
    proc.autoRefresh = false
    return plain(c.stopAutoRefresh())
  },
  // auth-js has no lifecycle input. A React Native app forwards AppState to it the documented way:
  // foreground starts the ticker (when the app wants auto refresh), background stops it.
  lifecycle: (c, s, proc) => {
    if (s.state === 'background') return plain(c.stopAutoRefresh())
    return proc.autoRefresh ? plain(c.startAutoRefresh()) : Promise.resolve({ error: null })
  },
  // ...and no reachability input at all: reported network changes reach nothing.
  network: () => Promise.resolve({ error: null }),
}

export function checkScenario(scenario) {
  if (!scenario || !Array.isArray(scenario.steps)) throw new Error('a scenario needs a steps list')
  for (const k of Object.keys(scenario.options ?? {})) {
    if (!(k in DEFAULT_OPTIONS)) throw new Error(`unknown option ${k}`)
  }
  scenario.steps.forEach((s, i) => {
    if (s.call !== undefined && s.call !== 'initialize' && !(s.call in CALLS)) {
      throw new Error(`step ${i}: unknown call ${s.call}`)
    }
    if (s.storage_fail && !['read', 'write', 'remove'].includes(s.storage_fail.op)) {
      throw new Error(`step ${i}: storage_fail op must be read, write or remove`)
    }
  })
}

/**
 * Replays `scenario` on `clock` (an installed VirtualClock), handing every trace line to `emit`.
 * Resolves when the `end` line has been emitted. `onNote` hears what is worth a look but is not
 * part of the trace (an unexpected exception inside auth-js).
 */
export async function replayScenario(scenario, clock, emit, onNote = () => {}) {
  checkScenario(scenario)
  const options = { ...DEFAULT_OPTIONS, ...(scenario.options ?? {}) }
  const startMs = scenario.start_ms ?? DEFAULT_START_MS
  const offline = scenario.offline_ms ?? []
  clock.reset(startMs)

  let step = 0
  const line = (body) => emit({ step, ...body })
  const store = new Map(Object.entries(scenario.storage ?? {}))
  const faults = { read: 0, write: 0, remove: 0 }
  const queues = new Map(Object.entries(scenario.server ?? {}).map(([route, answers]) => [route, [...answers]]))
  let proc = null // the running client process: { alive, client, autoRefresh }

  // Storage: raw strings, one map for every process. A dead process's operations never return.
  const storageOp = (owner, op, key, body) => {
    if (!owner.alive) return never()
    clock.activity++
    if (faults[op] > 0) {
      faults[op]--
      line({ storage_error: { op, key } })
      return Promise.reject(new InjectedStorageFailure(op, key))
    }
    return Promise.resolve(body())
  }
  const storageFor = (owner) => ({
    isServer: options.is_server,
    getItem: (key) => storageOp(owner, 'read', key, () => (store.has(key) ? store.get(key) : null)),
    setItem: (key, value) =>
      storageOp(owner, 'write', key, () => {
        store.set(key, value)
        line({ storage_set: isVerifierKey(key) ? { key } : { key, tokens: tokensOf(value) } })
      }),
    removeItem: (key) =>
      storageOp(owner, 'remove', key, () => {
        const existed = store.delete(key)
        line({ storage_remove: { key, existed } })
      }),
  })

  // The server: every route answers from its queue, in order; an empty queue or an offline
  // window is a transport failure, which undici reports as a TypeError.
  const answerOf = (a) => {
    if (a.network_error) throw new TypeError('fetch failed')
    const status = a.status ?? 200
    const headers = new Headers(a.headers ?? {})
    let body = null
    if (a.raw_body !== undefined) body = a.raw_body
    else if (a.body !== undefined) {
      body = JSON.stringify(a.body)
      if (!headers.has('content-type')) headers.set('content-type', 'application/json')
    }
    return new Response(NULL_BODY_STATUSES.has(status) ? null : body, { status, headers })
  }
  const fetchFor = (owner) => async (input, init = {}) => {
    if (!owner.alive) return never()
    clock.activity++
    const url = new URL(typeof input === 'string' ? input : input.url)
    const method = (init.method ?? 'GET').toUpperCase()
    const path = url.pathname.startsWith(AUTH_PATH) ? url.pathname.slice(AUTH_PATH.length) : url.pathname
    const authorization = new Headers(init.headers ?? {}).get('authorization')
    let body = null
    if (init.body != null) {
      try {
        body = JSON.parse(init.body)
      } catch {
        body = String(init.body)
      }
    }
    line({
      request: {
        method,
        path,
        query: Object.fromEntries(url.searchParams),
        bearer: authorization?.startsWith('Bearer ') ? authorization.slice(7) : null,
        body,
      },
    })
    const sinceStart = clock.now - startMs
    if (offline.some(([from, to]) => sinceStart >= from && sinceStart < to)) throw new TypeError('fetch failed')
    const answer = queues.get(`${method} ${path}`)?.shift() ?? { network_error: true }
    if (answer.delay_ms) await clock.sleep(answer.delay_ms)
    if (!owner.alive) return never()
    return answerOf(answer)
  }

  const start = (s) => {
    if (s.call === 'initialize') {
      const owner = { alive: true, client: null, autoRefresh: options.auto_refresh_token }
      if (proc) proc.alive = false
      proc = owner
      owner.client = new GoTrueClient({
        url: AUTH_URL,
        storageKey: options.storage_key,
        autoRefreshToken: options.auto_refresh_token,
        persistSession: options.persist_session,
        detectSessionInUrl: false,
        flowType: 'pkce',
        storage: storageFor(owner),
        fetch: fetchFor(owner),
        skipAutoInitialize: true,
      })
      // initialize() sets the client's initializePromise before its first await, so a listener
      // added right after it gets INITIAL_SESSION once initialization is over (as in an app that
      // subscribes right after createClient).
      const done = plain(owner.client.initialize())
      owner.client.onAuthStateChange((event, session) => {
        if (owner.alive) line({ event, access_token: session?.access_token ?? null })
      })
      return { owner, done }
    }
    if (!proc) throw new Error(`step ${step}: ${s.call} before initialize`)
    return { owner: proc, done: CALLS[s.call](proc.client, s, proc) }
  }

  for (; step < scenario.steps.length; step++) {
    const s = scenario.steps[step]
    if (s.call !== undefined) {
      const callStep = step
      const report = (value) => {
        const { error, ...rest } = value
        return { call: s.call, call_step: callStep, ok: error == null, error: describeError(error), ...rest }
      }
      const { owner, done } = start(s)
      done.then(
        (value) => owner.alive && line({ result: report(value) }),
        (thrown) => {
          if (!owner.alive) return
          line({ result: { ...report({ error: thrown }), threw: true } })
          if (!(thrown instanceof InjectedStorageFailure)) {
            onNote(`step ${callStep}: ${s.call} threw ${thrown?.stack ?? thrown}`)
          }
        },
      )
    } else if (s.advance_ms !== undefined) {
      await clock.advanceBy(s.advance_ms)
    } else if (s.storage_set) {
      store.set(s.storage_set.key, s.storage_set.value)
    } else if (s.storage_fail) {
      faults[s.storage_fail.op] += s.storage_fail.times ?? 1
    } else if (s.restart) {
      if (proc) proc.alive = false
      proc = null
      clock.dropAllTimers()
    } else {
      throw new Error(`step ${step}: unknown step ${JSON.stringify(s)}`)
    }
    await clock.settle()
  }

  const final = {}
  for (const [key, value] of store) final[key] = isVerifierKey(key) ? { present: true } : tokensOf(value)
  line({ end: { storage: final } })
  // The run is over: the client's background work (its ticker) dies with the world.
  if (proc) proc.alive = false
  clock.dropAllTimers()
}
