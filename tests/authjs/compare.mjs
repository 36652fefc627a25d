#!/usr/bin/env node
// Conformance check: replays every scenario in tests/scenarios/ through the real auth-js client
// (this directory's harness) and through `gotrue-session replay`, compares the normalized traces
// (lib/normalize.mjs says what is compared and what is ignored), and prints one table.
//
//   node tests/authjs/compare.mjs path/to/gotrue-session [--details] [SCENARIO.json ...]
//
// differences.json lists the scenarios where we differ from auth-js on purpose: for each, the
// POLICY.md rule behind it, the reason, and which aspects (events, requests, results, storage)
// differ. The run fails (exit 1) on
// - a difference that is not listed, or in an aspect the entry does not list;
// - a listed difference that no longer occurs, wholly or in one of its aspects (the list stays true);
// - an entry naming no scenario, or a replay that fails.
// --details prints both sides of every difference, documented ones included.

import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { ASPECTS, differences, normalize } from './lib/normalize.mjs'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const SCENARIO_DIR = path.join(HERE, '..', 'scenarios')
const DIFFERENCES = path.join(HERE, 'differences.json')
const PER_SCENARIO_TIMEOUT_MS = 60000

function parseArgs(argv) {
  const args = { binary: null, details: false, files: [] }
  for (const a of argv) {
    if (a === '--details') args.details = true
    else if (a === '-h' || a === '--help') args.help = true
    else if (!args.binary) args.binary = a
    else args.files.push(a)
  }
  return args
}

function parseLines(text) {
  const lines = []
  for (const raw of text.split('\n')) {
    const t = raw.trim()
    if (t.startsWith('{')) lines.push(JSON.parse(t))
  }
  return lines
}

/** Runs `task` over `items` with at most `limit` at a time; resolves to the results in order. */
async function pool(items, limit, task) {
  const results = new Array(items.length)
  let next = 0
  const lane = async () => {
    while (next < items.length) {
      const i = next++
      results[i] = await task(items[i])
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane))
  return results
}

/** Our trace of one file: `gotrue-session replay FILE` (exit 1 only means an unmet expect). */
function replayOurs(binary, file) {
  return new Promise((resolve) => {
    const child = spawn(binary, ['replay', file], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (err += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), PER_SCENARIO_TIMEOUT_MS)
    child.on('error', (e) => {
      clearTimeout(timer)
      resolve({ error: `cannot run ${binary}: ${e.message}` })
    })
    child.on('close', (code) => {
      clearTimeout(timer)
      if (code !== 0 && code !== 1) return resolve({ error: `exit ${code}: ${err.trim().slice(-400)}` })
      try {
        resolve({ lines: parseLines(out), expectFailed: code === 1 ? err.trim() : null })
      } catch (e) {
        resolve({ error: `unreadable trace: ${e.message}` })
      }
    })
  })
}

/** auth-js traces of all files, from worker threads (each has its own virtual clock). */
async function replayAuthjs(files, workers) {
  const byPath = new Map()
  const queue = [...files]
  const lane = () =>
    new Promise((resolve) => {
      const worker = new Worker(new URL('./lib/worker.mjs', import.meta.url))
      let current = null
      let timer = null
      const feed = () => {
        clearTimeout(timer)
        current = queue.shift()
        if (current === undefined) {
          worker.terminate().then(resolve)
          return
        }
        timer = setTimeout(() => {
          byPath.set(current, { error: `auth-js replay took over ${PER_SCENARIO_TIMEOUT_MS} ms` })
          worker.terminate().then(() => resolve(lane()))
        }, PER_SCENARIO_TIMEOUT_MS)
        worker.postMessage({ path: current })
      }
      worker.on('message', (m) => {
        byPath.set(m.path, m)
        feed()
      })
      worker.on('error', (e) => {
        clearTimeout(timer)
        if (current !== undefined) byPath.set(current, { error: `auth-js worker died: ${e?.stack ?? e}` })
        resolve(lane())
      })
      feed()
    })
  await Promise.all(Array.from({ length: Math.min(workers, files.length) }, lane))
  return byPath
}

function loadDifferences() {
  const raw = JSON.parse(fs.readFileSync(DIFFERENCES, 'utf8'))
  const problems = []
  const entries = new Map()
  for (const [name, e] of Object.entries(raw)) {
    if (name.startsWith('$')) continue // $comment and the like
    const bad = []
    if (typeof e?.rule !== 'string' || !/^POLICY\.md sections? \d/.test(e.rule)) bad.push('a "rule" naming a POLICY.md section')
    if (typeof e?.reason !== 'string' || !e.reason) bad.push('a "reason"')
    const aspectsOk = Array.isArray(e?.differs) && e.differs.length && e.differs.every((a) => ASPECTS.includes(a))
    if (!aspectsOk) bad.push(`"differs": a non-empty list of ${ASPECTS.join(', ')}`)
    if (bad.length) problems.push(`differences.json: ${name} needs ${bad.join(' and ')}`)
    else entries.set(name, e)
  }
  return { entries, problems }
}

function pad(s, n) {
  return s.length >= n ? s : s + ' '.repeat(n - s.length)
}

async function main() {
  const args = parseArgs(process.argv.slice(2))
  if (args.help || !args.binary) {
    console.log('usage: node tests/authjs/compare.mjs path/to/gotrue-session [--details] [SCENARIO.json ...]')
    return args.help ? 0 : 2
  }
  const started = Date.now()
  const binary = path.resolve(args.binary)
  if (!fs.existsSync(binary)) {
    console.error(`${binary} does not exist: build it with cargo build --release -p gotrue-session-cli`)
    return 2
  }
  const all = args.files.length === 0
  const files = all
    ? fs.readdirSync(SCENARIO_DIR).filter((f) => f.endsWith('.json')).map((f) => path.join(SCENARIO_DIR, f))
    : args.files.map((f) => path.resolve(f))
  files.sort()
  const { entries, problems } = loadDifferences()
  const names = new Set(files.map((f) => path.basename(f, '.json')))
  if (all) {
    for (const name of entries.keys()) {
      if (!names.has(name)) problems.push(`differences.json: ${name} names no scenario (stale entry)`)
    }
  }

  const cpus = Math.max(1, os.availableParallelism?.() ?? os.cpus().length)
  const [authjs, ours] = await Promise.all([
    replayAuthjs(files, Math.min(cpus, 4)),
    pool(files, cpus * 2, (f) => replayOurs(binary, f)),
  ])

  const rows = []
  const details = []
  const counts = { same: 0, documented: 0, undocumented: 0, stale: 0, error: 0 }
  const byReason = new Map()
  files.forEach((file, i) => {
    const name = path.basename(file, '.json')
    const entry = entries.get(name)
    const a = authjs.get(file) ?? { error: 'no auth-js trace' }
    const o = ours[i]
    const failure = o.error ? `gotrue-session: ${o.error}` : a.error ? `auth-js: ${a.error}` : null
    let status
    let note = ''
    let diffs = []
    if (failure) {
      status = 'ERROR'
      note = failure.split('\n')[0]
      counts.error++
    } else {
      const no = normalize(o.lines)
      const na = normalize(a.lines)
      diffs = differences(no, na)
      if (!no.finished || !na.finished) {
        status = 'ERROR'
        note = `${!no.finished ? 'our' : 'the auth-js'} trace has no end line`
        counts.error++
      } else if (diffs.length === 0 && !entry) {
        status = 'same'
        counts.same++
      } else if (diffs.length === 0) {
        status = 'STALE'
        note = `listed as different (${entry.differs.join(', ')}) but auth-js now agrees: remove the entry`
        counts.stale++
      } else if (!entry) {
        status = 'UNDOCUMENTED'
        note = `differs in ${diffs.map((d) => d.aspect).join(', ')}, and differences.json has no entry`
        counts.undocumented++
      } else {
        const differing = diffs.map((d) => d.aspect)
        const extra = differing.filter((x) => !entry.differs.includes(x))
        const gone = entry.differs.filter((x) => !differing.includes(x))
        if (extra.length || gone.length) {
          status = extra.length ? 'UNDOCUMENTED' : 'STALE'
          const parts = []
          if (extra.length) parts.push(`also differs in ${extra.join(', ')}`)
          if (gone.length) parts.push(`no longer differs in ${gone.join(', ')}`)
          note = parts.join('; ')
          note += ` (differences.json lists ${entry.differs.join(', ')})`
          counts[extra.length ? 'undocumented' : 'stale']++
        } else {
          status = 'different'
          note = entry.reason
          counts.documented++
          const key = `${entry.reason}\u0000${entry.rule}`
          byReason.set(key, (byReason.get(key) ?? 0) + 1)
        }
      }
      if (o.expectFailed) note += ` [gotrue-session misses the scenario's expect: ${o.expectFailed.split('\n')[0]}]`
    }
    rows.push([name, status, note])
    const notes = a.notes ?? []
    if (diffs.length && (args.details || status !== 'different')) {
      details.push(`${name}:`)
      for (const d of diffs) details.push(`  ${d.aspect}\n    ours:    ${d.ours}\n    auth-js: ${d.authjs}`)
      for (const n of notes) details.push(`  auth-js note: ${n.split('\n')[0]}`)
    }
  })

  // Agreements first, then the documented differences grouped by reason (largest group first),
  // then everything that fails the run, next to the summary.
  const bySize = [...byReason.keys()].sort((x, y) => byReason.get(y) - byReason.get(x))
  const groupRank = new Map(bySize.map((key, i) => [key.split('\u0000')[0], i]))
  const statusRank = (status) => (status === 'same' ? 0 : status === 'different' ? 1 : 2)
  const rank = ([name, status, note]) => [statusRank(status), groupRank.get(note) ?? 0, name]
  rows.sort((x, y) => {
    const [a, b] = [rank(x), rank(y)]
    return a[0] - b[0] || a[1] - b[1] || (a[2] < b[2] ? -1 : 1)
  })
  const w0 = Math.max(8, ...rows.map((r) => r[0].length))
  const w1 = Math.max(6, ...rows.map((r) => r[1].length))
  console.log(`${pad('scenario', w0)} | ${pad('result', w1)} | reason`)
  console.log(`${'-'.repeat(w0)}-|-${'-'.repeat(w1)}-|-${'-'.repeat(6)}`)
  for (const [n, s, r] of rows) console.log(`${pad(n, w0)} | ${pad(s, w1)} | ${r}`.trimEnd())

  if (byReason.size) {
    console.log('\nDocumented differences by reason:')
    for (const key of bySize) {
      const [reason, rule] = key.split('\u0000')
      const n = byReason.get(key)
      console.log(`  ${String(n).padStart(3)}  ${reason}\n       ${rule}`)
    }
  }
  if (details.length) console.log('\nWhat differs (ours vs auth-js):\n' + details.join('\n'))
  for (const p of problems) console.log(p)

  const seconds = ((Date.now() - started) / 1000).toFixed(1)
  console.log(
    `\n${files.length} scenarios: ${counts.same} same as auth-js, ${counts.documented} different as documented, ` +
      `${counts.undocumented} undocumented, ${counts.stale} stale, ${counts.error} errors (${seconds} s)`,
  )
  const failed = counts.undocumented + counts.stale + counts.error + problems.length
  if (failed) console.log('FAILED: fix the core or the scenario, or document the difference in tests/authjs/differences.json')
  return failed ? 1 : 0
}

// Set the exit code and let the process end by itself: process.exit() could cut off output still
// queued for a pipe.
main().then(
  (code) => {
    process.exitCode = code
  },
  (e) => {
    console.error(e?.stack ?? e)
    process.exitCode = 2
  },
)
