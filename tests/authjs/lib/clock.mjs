// A virtual clock for replaying scenarios against auth-js.
//
// auth-js reads time through `Date.now()` / `new Date()` and waits through `setTimeout` /
// `setInterval` (retry back-off, the auto-refresh ticker). `install()` points those globals at
// one clock whose time only moves when the replay says so. Everything else auth-js does in a
// replay (the scripted fetch, the in-memory storage, its own promise chains) settles through
// microtasks, so "let the client run until it waits for something" is: yield one macrotask turn
// (the real setImmediate, which is left alone) until a turn passes in which nothing was touched.
//
// Timers due at the current instant fire while settling, as a zero-delay timer does in a real
// runtime; later ones fire only when `advanceBy` reaches them, in (due time, creation) order,
// with the client settled between two of them.

const RealDate = globalThis.Date
const realSetImmediate = globalThis.setImmediate

// A turn in which nothing was touched is followed by this many more before the client counts as
// settled: cheap insurance against a continuation that needs one more macrotask turn.
const QUIET_TURNS = 2
// Settling longer than this without the clock moving is a loop, not a replay.
const MAX_TURNS_PER_INSTANT = 100000

class TimerHandle {
  constructor(id) {
    this.id = id
  }
  // Node's Timeout API, which auth-js calls on its ticker; a virtual timer never keeps a process alive.
  unref() {
    return this
  }
  ref() {
    return this
  }
  hasRef() {
    return false
  }
  refresh() {
    return this
  }
  [Symbol.toPrimitive]() {
    return this.id
  }
}

export class VirtualClock {
  constructor() {
    this.now = 0
    this.timers = new Map() // id -> { due, order, fn, args, every }
    this.nextId = 1
    this.nextOrder = 0
    // Bumped by anything observable (timers here, requests and storage in the world): settle()
    // watches it to tell a quiet turn from a busy one.
    this.activity = 0
  }

  /** Forgets every timer (a new run, or a killed process) and sets the time. */
  reset(nowMs) {
    this.now = nowMs
    this.timers.clear()
    this.activity++
  }

  dropAllTimers() {
    this.timers.clear()
    this.activity++
  }

  add(fn, delay, args, repeat) {
    if (typeof fn !== 'function') throw new TypeError('virtual timers take a function')
    const ms = Math.max(0, Number(delay) || 0)
    const id = this.nextId++
    this.timers.set(id, { due: this.now + ms, order: this.nextOrder++, fn, args, every: repeat ? Math.max(1, ms) : 0 })
    this.activity++
    return new TimerHandle(id)
  }

  cancel(handle) {
    if (handle == null) return
    const id = typeof handle === 'object' ? handle.id : Number(handle)
    if (this.timers.delete(id)) this.activity++
  }

  /** A promise resolved `ms` from now on this clock. */
  sleep(ms) {
    return new Promise((resolve) => this.add(resolve, ms, [], false))
  }

  earliestDueBy(limit) {
    let best = null
    for (const [id, t] of this.timers) {
      if (t.due > limit) continue
      if (best === null || t.due < best.t.due || (t.due === best.t.due && t.order < best.t.order)) best = { id, t }
    }
    return best
  }

  fire({ id, t }) {
    if (t.every) {
      t.due += t.every
      t.order = this.nextOrder++
    } else {
      this.timers.delete(id)
    }
    this.activity++
    t.fn(...t.args)
  }

  /** Lets the client run until it waits on something: a later timer, or nothing at all. */
  async settle() {
    let quiet = 0
    for (let turns = 0; quiet < QUIET_TURNS; turns++) {
      if (turns > MAX_TURNS_PER_INSTANT) throw new Error(`the client never settled at ${this.now}`)
      const before = this.activity
      await new Promise((resolve) => realSetImmediate(resolve))
      const due = this.earliestDueBy(this.now)
      if (due) {
        this.fire(due)
        quiet = 0
        continue
      }
      quiet = this.activity === before ? quiet + 1 : 0
    }
  }

  /** Moves time forward, firing every timer that falls due on the way, in order. */
  async advanceBy(ms) {
    const target = this.now + Math.max(0, ms)
    await this.settle()
    for (;;) {
      const due = this.earliestDueBy(target)
      if (!due) break
      this.now = Math.max(this.now, due.t.due)
      this.fire(due)
      await this.settle()
    }
    this.now = target
    await this.settle()
  }

  /** Points the global time and timer functions at this clock (once per process). */
  install() {
    if (globalThis.Date !== RealDate) throw new Error('a virtual clock is already installed')
    const clock = this
    class VirtualDate extends RealDate {
      constructor(...args) {
        if (args.length === 0) super(clock.now)
        else super(...args)
      }
      static now() {
        return clock.now
      }
    }
    globalThis.Date = VirtualDate
    globalThis.setTimeout = (fn, delay, ...args) => clock.add(fn, delay, args, false)
    globalThis.setInterval = (fn, delay, ...args) => clock.add(fn, delay, args, true)
    globalThis.clearTimeout = (h) => clock.cancel(h)
    globalThis.clearInterval = (h) => clock.cancel(h)
    return this
  }
}
