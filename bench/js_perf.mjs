// js-libp2p node-to-node perf on loopback: two tests/interop/peer.mjs processes, one dials
// the other and runs /perf/1.0.0. usage (from the repo root, after `npm ci` in tests/interop):
//   node bench/js_perf.mjs BYTES RUNS
// Prints one JSON line per transfer: {"dir":"download"|"upload","timeSeconds":..,"bytes":..}
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import path from 'node:path'

const bytes = Number(process.argv[2] ?? 268435456)
const runs = Number(process.argv[3] ?? 5)
const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'tests', 'interop')

function startPeer () {
  const p = spawn(process.execPath, ['--import', './polyfill.mjs', 'peer.mjs', '--no-connection-monitor'],
    { cwd: dir, stdio: ['pipe', 'pipe', 'inherit'] })
  const waiting = new Map()
  let onListening
  const listening = new Promise(resolve => { onListening = resolve })
  createInterface({ input: p.stdout }).on('line', line => {
    const ev = JSON.parse(line)
    if (ev.event === 'listening') onListening(ev)
    if (ev.event === 'result' && waiting.has(ev.id)) { waiting.get(ev.id)(ev); waiting.delete(ev.id) }
  })
  let next = 1
  const send = cmd => new Promise(resolve => {
    const id = next++
    waiting.set(id, resolve)
    p.stdin.write(JSON.stringify({ id, ...cmd }) + '\n')
  })
  return { p, listening, send }
}

const a = startPeer()
const b = startPeer()
const [la] = await Promise.all([a.listening, b.listening])
const addr = la.addrs[0].includes('/p2p/') ? la.addrs[0] : `${la.addrs[0]}/p2p/${la.peerId}`
let failed = false
for (let i = 0; i < runs; i++) {
  for (const [name, cmd] of [['download', { download: bytes, upload: 0 }], ['upload', { upload: bytes, download: 0 }]]) {
    const r = await b.send({ cmd: 'perf', addr, timeoutMs: 120000, ...cmd })
    if (!r.ok) { console.error(`js_perf: ${r.error}`); failed = true; continue }
    console.log(JSON.stringify({ dir: name, timeSeconds: r.timeSeconds, bytes }))
  }
}
a.p.kill(); b.p.kill()
process.exit(failed ? 1 : 0)
