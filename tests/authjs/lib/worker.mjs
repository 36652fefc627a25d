// A worker thread of compare.mjs: replays the scenario files it is sent through auth-js and posts
// back each trace. Each worker has its own globals, so its virtual clock touches nobody else's.
import fs from 'node:fs'
import { parentPort } from 'node:worker_threads'
import { harness } from './harness.mjs'

const h = harness()
parentPort.on('message', async ({ path }) => {
  try {
    const { lines, notes } = await h.run(JSON.parse(fs.readFileSync(path, 'utf8')))
    parentPort.postMessage({ path, lines, notes })
  } catch (e) {
    parentPort.postMessage({ path, error: String(e?.stack ?? e) })
  }
})
