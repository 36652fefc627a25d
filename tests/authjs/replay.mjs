#!/usr/bin/env node
// Replays scenario files against the real @supabase/auth-js client (the version pinned in
// package.json) and prints each trace in the format of shared/scenario-format.md.
//
//   node replay.mjs FILE...              print the trace of each file
//   node replay.mjs --repeat N FILE      replay FILE N times in this process (fresh clock, store
//                                        and client each time) and print
//                                        {"bench":{"iterations":N,"ns_per_iteration":X}}
//   --verbose                            let auth-js's console output through, to stderr

import fs from 'node:fs'
import { harness } from './lib/harness.mjs'

const USAGE = 'usage: node replay.mjs [--verbose] FILE... | node replay.mjs [--verbose] --repeat N FILE'

function load(path) {
  return JSON.parse(fs.readFileSync(path, 'utf8'))
}

async function main(argv) {
  const verbose = argv.includes('--verbose')
  const args = argv.filter((a) => a !== '--verbose')
  if (args.length === 0 || args.includes('-h') || args.includes('--help')) {
    console.log(USAGE)
    return args.length === 0 ? 2 : 0
  }
  const h = harness({ verbose })
  if (args[0] === '--repeat') {
    const n = Number.parseInt(args[1], 10)
    if (!(n >= 1) || args.length !== 3) {
      process.stderr.write(USAGE + '\n')
      return 2
    }
    const scenario = load(args[2])
    const discard = () => {}
    const started = process.hrtime.bigint()
    for (let i = 0; i < n; i++) await h.run(scenario, discard)
    const ns = Number(process.hrtime.bigint() - started) / n
    process.stdout.write(JSON.stringify({ bench: { iterations: n, ns_per_iteration: Math.round(ns) } }) + '\n')
    return 0
  }
  for (const path of args) {
    const print = (l) => process.stdout.write(JSON.stringify(l) + '\n')
    const { notes } = await h.run(load(path), print)
    for (const n of notes) process.stderr.write(`${path}: ${n}\n`)
  }
  return 0
}

// Nothing real is left pending once the replays are over (the clock is virtual), so the process
// ends by itself; process.exit() could cut off trace lines still queued for a pipe.
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (e) => {
    process.stderr.write(`error: ${e?.stack ?? e}\n`)
    process.exitCode = 2
  },
)
