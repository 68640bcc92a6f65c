// js <-> js self-test of peer.mjs: starts peer processes on 127.0.0.1 and
// drives every command over their stdin/stdout protocol, asserting results.
// Last line: "N passed, M failed"; exit code 1 on any failure.
//
// Run: node selftest.mjs   (it starts the peers with --import ./polyfill.mjs)

import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'

const here = dirname(fileURLToPath(import.meta.url))
const MiB = 1024 * 1024
const SEED_A = '11'.repeat(32)
const SEED_B = '22'.repeat(32)

let passed = 0
let failed = 0
const verbose = process.env.SELFTEST_VERBOSE === '1'

function check (name, cond, detail) {
  if (cond) {
    passed++
    console.log(`ok   ${name}`)
  } else {
    failed++
    console.log(`FAIL ${name}${detail !== undefined ? ' -- ' + JSON.stringify(detail) : ''}`)
  }
}

/** One peer.mjs child process with a line-oriented JSON protocol. */
class Peer {
  constructor (name, args) {
    this.name = name
    this.events = []
    this.waiters = []
    this.nextId = 1
    this.stderr = ''
    this.child = spawn(process.execPath, ['--import', './polyfill.mjs', 'peer.mjs', ...args], {
      cwd: here,
      stdio: ['pipe', 'pipe', 'pipe']
    })
    this.exited = new Promise(resolve => this.child.on('exit', (code, signal) => resolve({ code, signal })))
    this.child.stderr.on('data', d => { this.stderr += d.toString() })
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      let ev
      try {
        ev = JSON.parse(line)
      } catch {
        ev = { event: 'non-json', line }
      }
      if (verbose) console.log(`  [${this.name}] ${line.slice(0, 300)}`)
      this.events.push(ev)
      this.waiters = this.waiters.filter(w => !w(ev))
    })
  }

  /** Resolve with the first event (past or future) matching pred. */
  waitFor (pred, timeoutMs = 30000, what = 'event') {
    const found = this.events.find(pred)
    if (found != null) return Promise.resolve(found)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: timeout waiting for ${what}`)), timeoutMs)
      this.waiters.push((ev) => {
        if (!pred(ev)) return false
        clearTimeout(timer)
        resolve(ev)
        return true
      })
    })
  }

  send (obj) {
    this.child.stdin.write(JSON.stringify(obj) + '\n')
  }

  async cmd (obj, timeoutMs = 120000) {
    const id = `${this.name}-${this.nextId++}`
    this.send({ ...obj, id })
    return this.waitFor(ev => ev.event === 'result' && ev.id === id, timeoutMs, `result of ${obj.cmd}`)
  }

  async listening () {
    return this.waitFor(ev => ev.event === 'listening', 30000, 'listening')
  }

  kill () {
    if (this.child.exitCode == null && this.child.signalCode == null) this.child.kill('SIGKILL')
  }
}

const all = []
function peer (name, args) {
  const p = new Peer(name, args)
  all.push(p)
  return p
}

async function pairScenario (label, argsA, argsB, expectEarly) {
  console.log(`# scenario: ${label}`)
  const a = peer(`A(${label})`, ['--seed', SEED_A, '--agent', 'starling-selftest/A', ...argsA])
  const b = peer(`B(${label})`, ['--seed', SEED_B, '--agent', 'starling-selftest/B', ...argsB])
  const la = await a.listening()
  const lb = await b.listening()
  check(`${label}: A listens on 127.0.0.1 with /p2p/`, la.addrs.length > 0 && la.addrs.every(x => x.startsWith('/ip4/127.0.0.1/tcp/') && x.endsWith(`/p2p/${la.peerId}`)), la.addrs)
  const addrA = la.addrs[0]

  // dial
  const d = await b.cmd({ cmd: 'dial', addr: addrA })
  check(`${label}: dial ok`, d.ok && d.peerId === la.peerId && d.direction === 'outbound', d)
  check(`${label}: muxer is yamux`, d.muxer === '/yamux/1.0.0', d.muxer)
  check(`${label}: dialer earlyMuxer=${expectEarly}`, d.earlyMuxer === expectEarly, d)
  const inbound = await a.waitFor(ev => ev.event === 'connection:open' && ev.peerId === lb.peerId)
  check(`${label}: listener sees inbound connection, earlyMuxer=${expectEarly}`,
    inbound.direction === 'inbound' && inbound.muxer === '/yamux/1.0.0' && inbound.earlyMuxer === expectEarly, inbound)

  // identify (runs automatically on connection open, both ways)
  const idB = await b.waitFor(ev => ev.event === 'identify' && ev.peerId === la.peerId)
  check(`${label}: B identifies A (agent, protocols, observedAddr)`,
    idB.agentVersion === 'starling-selftest/A' &&
    ['/ipfs/ping/1.0.0', '/ipfs/id/1.0.0', '/perf/1.0.0', '/starling/test/echo/1.0.0', '/starling/test/sink/1.0.0'].every(p => idB.protocols.includes(p)) &&
    idB.listenAddrs.some(x => addrA.startsWith(x)) && typeof idB.observedAddr === 'string' && idB.observedAddr.startsWith('/ip4/127.0.0.1/tcp/'), idB)
  const idA = await a.waitFor(ev => ev.event === 'identify' && ev.peerId === lb.peerId)
  check(`${label}: A identifies B`, idA.agentVersion === 'starling-selftest/B' && typeof idA.protocolVersion === 'string', idA)
  const idCmd = await b.cmd({ cmd: 'identify', peer: la.peerId })
  check(`${label}: identify command`, idCmd.ok && idCmd.peerId === la.peerId && idCmd.protocols.includes('/perf/1.0.0'), idCmd)

  // ping x3, js style (one stream each) and go/rust style (one stream)
  const p1 = await b.cmd({ cmd: 'ping', addr: addrA, count: 3 })
  check(`${label}: ping x3`, p1.ok && p1.rtts.length === 3 && p1.rtts.every(x => x >= 0 && x < 5000), p1)
  const p2 = await b.cmd({ cmd: 'ping', peer: la.peerId, count: 3, reuse: true })
  check(`${label}: ping x3 on one stream`, p2.ok && p2.rtts.length === 3, p2)
  const p3 = await b.cmd({ cmd: 'ping', addr: addrA, count: 2, halfClose: true })
  check(`${label}: ping with immediate half-close gets echo and EOF`, p3.ok && p3.rtts.length === 2, p3)

  // perf 8 MiB each way, both directions of the connection
  const f1 = await b.cmd({ cmd: 'perf', addr: addrA, upload: 8 * MiB, download: 8 * MiB })
  check(`${label}: perf B->A 8 MiB up / 8 MiB down`, f1.ok && f1.uploadBytes === 8 * MiB && f1.downloadBytes === 8 * MiB && f1.timeSeconds > 0, f1)
  const s1 = await a.waitFor(ev => ev.event === 'stream' && ev.protocol === '/perf/1.0.0')
  check(`${label}: perf server saw 8 MiB upload`, s1.result === 'ok' && s1.uploadBytes === 8 * MiB && s1.downloadBytes === 8 * MiB, s1)
  const f2 = await a.cmd({ cmd: 'perf', peer: lb.peerId, upload: 0, download: 8 * MiB })
  check(`${label}: perf A->B download only`, f2.ok && f2.uploadBytes === 0 && f2.downloadBytes === 8 * MiB, f2)
  const f3 = await a.cmd({ cmd: 'perf', peer: lb.peerId, upload: 1, download: 0 })
  check(`${label}: perf tiny upload, zero download`, f3.ok && f3.downloadBytes === 0, f3)

  // 200 concurrent echo streams
  const st = await b.cmd({ cmd: 'streams', addr: addrA, n: 200, bytes: 4096 })
  check(`${label}: 200 concurrent echo streams`, st.ok && st.succeeded === 200, st)
  await new Promise(resolve => setTimeout(resolve, 200))
  const echoOk = a.events.filter(ev => ev.event === 'stream' && ev.protocol === '/starling/test/echo/1.0.0' && ev.result === 'ok').length
  check(`${label}: echo server completed 200 streams`, echoOk >= 200, echoOk)

  // half-close: echo and sink
  const h1 = await b.cmd({ cmd: 'halfclose', addr: addrA, bytes: 100000 })
  check(`${label}: halfclose echo`, h1.ok && h1.echoMatches && h1.outcome === 'eof' && h1.writeStatusAfterClose === 'closed', h1)
  const h2 = await b.cmd({ cmd: 'halfclose', addr: addrA, protocol: 'sink', bytes: 300000 })
  check(`${label}: halfclose sink count`, h2.ok && h2.count === 300000, h2)

  // reset
  const r1 = await b.cmd({ cmd: 'reset', addr: addrA, bytes: 5000 })
  check(`${label}: reset after echo, connection survives`, r1.ok && r1.connectionAlive && r1.bytesReceivedBeforeReset === 5000, r1)
  const r2 = await b.cmd({ cmd: 'reset', addr: addrA, bytes: 200000, waitEcho: false })
  check(`${label}: reset mid-transfer, connection survives`, r2.ok && r2.connectionAlive, r2)
  const rs = await a.waitFor(ev => ev.event === 'stream' && ev.protocol === '/starling/test/echo/1.0.0' && ev.result === 'error', 5000, 'echo handler sees reset').catch(e => e)
  check(`${label}: echo handler reports the reset`, !(rs instanceof Error) && /reset/i.test(rs.error), rs instanceof Error ? rs.message : rs)

  // peers
  const pe = await b.cmd({ cmd: 'peers' })
  check(`${label}: peers lists one connection to A`, pe.ok && pe.connections.length === 1 && pe.connections[0].peerId === la.peerId, pe)

  // unknown command
  const u = await b.cmd({ cmd: 'nonsense' })
  check(`${label}: unknown command answered with ok=false`, u.ok === false && /unknown/.test(u.error), u)

  // stop: clean exit 0, and A sees the connection close
  const stopB = await b.cmd({ cmd: 'stop' })
  const exB = await b.exited
  check(`${label}: stop B exits 0`, stopB.ok && exB.code === 0, exB)
  const closed = await a.waitFor(ev => ev.event === 'connection:close' && ev.peerId === lb.peerId, 10000, 'connection:close').catch(e => e)
  check(`${label}: A sees connection:close`, !(closed instanceof Error), closed instanceof Error ? closed.message : undefined)
  const nonFatal = [...a.events, ...b.events].filter(ev => ev.event === 'error')
  if (nonFatal.length > 0) console.log(`  note: error events: ${JSON.stringify(nonFatal).slice(0, 500)}`)
  check(`${label}: no fatal error events`, nonFatal.every(ev => ev.fatal !== true), nonFatal)
  a.child.stdin.end() // stdin EOF must also stop the peer
  const exA = await a.exited
  check(`${label}: stdin EOF exits A with 0`, exA.code === 0, exA)
}

async function limitsScenario () {
  console.log('# scenario: js default stream limits (no --max-streams)')
  const a = peer('A(limits)', [])
  const b = peer('B(limits)', [])
  const la = await a.listening()
  await b.listening()
  const st = await b.cmd({ cmd: 'streams', addr: la.addrs[0], n: 200, bytes: 1024 })
  // js's listener negotiates the protocol, then resets every inbound stream
  // over its per-protocol limit (32): the dialer sees a reset, not an error
  check('default limits: streams over js\'s inbound limit of 32 are reset', st.ok === false && st.failed > 0 && st.succeeded >= 32 && /reset|closed/i.test(st.error), { ok: st.ok, succeeded: st.succeeded, failed: st.failed, error: st.error?.slice(0, 200) })
  const rejected = await a.waitFor(ev => ev.event === 'connection:open', 1000).catch(() => null)
  check('default limits: connection survives the resets', rejected != null && (await b.cmd({ cmd: 'peers' })).connections.length === 1)
  const st2 = await b.cmd({ cmd: 'streams', addr: la.addrs[0], n: 30, bytes: 1024 })
  check('default limits: 30 concurrent echo streams pass', st2.ok && st2.succeeded === 30, st2)
  b.child.stdin.end()
  a.child.stdin.end()
  await Promise.all([a.exited, b.exited])
}

async function monitorScenario () {
  console.log('# scenario: connection monitor (waits 11 s for its first ping)')
  const a = peer('A(monitor)', [])
  const b = peer('B(no-monitor)', ['--no-connection-monitor'])
  const la = await a.listening()
  await b.listening()
  const d = await b.cmd({ cmd: 'dial', addr: la.addrs[0] })
  check('monitor: dial ok', d.ok, d)
  await new Promise(resolve => setTimeout(resolve, 11500))
  const pa = await a.cmd({ cmd: 'peers' })
  const pb = await b.cmd({ cmd: 'peers' })
  check('monitor: A (monitor on) measured an rtt with an /ipfs/ping stream', pa.connections.length === 1 && typeof pa.connections[0].rtt === 'number', pa)
  check('monitor: B (--no-connection-monitor) has no rtt', pb.connections.length === 1 && pb.connections[0].rtt === null, pb)
  b.child.stdin.end()
  a.child.stdin.end()
  await Promise.all([a.exited, b.exited])
}

async function reconnectScenario () {
  console.log('# scenario: rapid reconnects from 127.0.0.1')
  const a = peer('A(allow)', [])
  const j = peer('J(js-limits)', ['--js-inbound-limits'])
  const b = peer('B(reconnect)', [])
  const [la, lj] = await Promise.all([a.listening(), j.listening()])
  await b.listening()
  const rounds = async (l) => {
    const out = []
    for (let i = 0; i < 8; i++) {
      const d = await b.cmd({ cmd: 'dial', addr: l.addrs[0] })
      out.push(d.ok)
      await b.cmd({ cmd: 'hangup', peer: l.peerId })
    }
    return out
  }
  const ra = await rounds(la)
  check('reconnect: 8 connections within ~1 s accepted (loopback allow-listed)', ra.every(x => x), ra)
  const t0 = performance.now()
  const rj = await rounds(lj)
  const took = performance.now() - t0
  if (rj.every(x => x) && took > 1000) {
    // the limiter counts per second: a slow machine may not reach 6 in one
    console.log(`skip reconnect: --js-inbound-limits check (8 reconnects took ${Math.round(took)} ms)`)
  } else {
    check('reconnect: --js-inbound-limits refuses some of them (js default: 5 per host per second)', rj.filter(x => x).length >= 5 && rj.some(x => !x), rj)
  }
  for (const p of [a, j, b]) p.child.stdin.end()
  await Promise.all([a.exited, j.exited, b.exited])
}

async function miscScenario () {
  console.log('# scenario: identity, address safety, safety timeout')
  const p1 = peer('seed1', ['--seed', SEED_A, '--timeout', '1'])
  const p2 = peer('seed2', ['--seed', SEED_A])
  const p3 = peer('noseed', [])
  const [l1, l2, l3] = await Promise.all([p1.listening(), p2.listening(), p3.listening()])
  check('same --seed gives the same peer id', l1.peerId === l2.peerId && l1.peerId.startsWith('12D3KooW'), [l1.peerId, l2.peerId])
  check('no --seed gives a fresh peer id', l3.peerId !== l1.peerId, l3.peerId)
  const ex1 = await p1.exited
  check('--timeout 1 exits non-zero with a fatal error event', ex1.code !== 0 && p1.events.some(ev => ev.event === 'error' && ev.fatal === true), ex1)
  p2.child.stdin.end()
  p3.child.stdin.end()
  await Promise.all([p2.exited, p3.exited])
  const bad = peer('wildcard', ['--listen', '/ip4/0.0.0.0/tcp/0'])
  const exBad = await bad.exited
  check('listening on 0.0.0.0 is refused', exBad.code !== 0 && bad.events.some(ev => ev.event === 'error' && ev.fatal), exBad)
}

const deadline = setTimeout(() => {
  console.log('FAIL selftest overall timeout')
  for (const p of all) p.kill()
  console.log(`${passed} passed, ${failed + 1} failed`)
  process.exit(1)
}, 240000)

try {
  const big = ['--max-streams', '256']
  await pairScenario('early-muxer', big, big, true)
  await pairScenario('no-early-muxer', [...big, '--no-early-muxer'], [...big, '--no-early-muxer'], false)
  // one side refuses the extension: both must fall back to multistream-select
  await pairScenario('mixed-early-muxer', big, [...big, '--no-early-muxer'], false)
  await pairScenario('no-connection-monitor', [...big, '--no-connection-monitor'], [...big, '--no-connection-monitor'], true)
  await limitsScenario()
  await reconnectScenario()
  if (process.env.SELFTEST_QUICK !== '1') await monitorScenario()
  await miscScenario()
} catch (err) {
  failed++
  console.log(`FAIL exception: ${err?.stack ?? err}`)
  for (const p of all) {
    if (p.stderr !== '') console.log(`  stderr of ${p.name}: ${p.stderr.slice(-2000)}`)
  }
} finally {
  clearTimeout(deadline)
  for (const p of all) p.kill()
}
console.log(`${passed} passed, ${failed} failed`)
process.exit(failed === 0 ? 0 : 1)
