// One process-wide harness: installs the virtual clock, quiets auth-js's console chatter, and
// replays scenarios one after another (the clock is global, so never two at once).

import { VirtualClock } from './clock.mjs'
import { replayScenario } from './replay.mjs'

let shared = null

/**
 * The harness of this process. `verbose` lets auth-js's own console output through (to stderr);
 * by default its warnings about failed refreshes, engines and the like are dropped, since the
 * trace already shows what happened.
 */
export function harness({ verbose = false } = {}) {
  if (shared) return shared
  const clock = new VirtualClock().install()
  const toStderr = (...args) => process.stderr.write(args.map(String).join(' ') + '\n')
  for (const name of ['log', 'info', 'warn', 'error', 'debug', 'trace']) console[name] = verbose ? toStderr : () => {}

  // auth-js starts some promise chains nobody awaits (the INITIAL_SESSION emission of
  // onAuthStateChange); when one rejects, a real Node app would crash. Record it for the run
  // in progress instead.
  let notes = null
  process.on('unhandledRejection', (reason) => {
    const text = `unhandled rejection inside auth-js: ${reason?.stack ?? reason}`
    if (notes) notes.push(text)
    else process.stderr.write(text + '\n')
  })

  let busy = false
  shared = {
    clock,
    /** Replays one scenario; resolves to { lines, notes }. */
    async run(scenario, emit = null) {
      if (busy) throw new Error('the harness replays one scenario at a time')
      busy = true
      const lines = []
      notes = []
      const mine = notes
      try {
        await replayScenario(scenario, clock, emit ?? ((l) => lines.push(l)), (n) => mine.push(n))
      } finally {
        busy = false
        notes = null
      }
      return { lines, notes: mine }
    },
  }
  return shared
}
