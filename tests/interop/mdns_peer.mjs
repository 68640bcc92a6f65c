// js-libp2p node with mDNS discovery, for Starling's mDNS interop test on the virtual LAN
// (tests/netns/js_mdns_test.sh). TCP + Noise + Yamux + identify + ping + @libp2p/mdns.
//
// Run it ONLY inside a network namespace made by tests/netns/lan.sh:
//
//   ip netns exec <ns> node --import ./polyfill.mjs mdns_peer.mjs --ip 10.200.1.1 [--no-dial]
//
// Network safety: @libp2p/mdns 12 gives no way to choose an interface (it passes only port
// and group address to multicast-dns), so its socket binds 0.0.0.0:5353, joins 224.0.0.251 on
// every IPv4 interface it sees and sends by the multicast route. That is acceptable only
// because the namespace is the test's own (lo + one veth on the test bridge): the script
// refuses to run in the network namespace of pid 1 (the machine's, or the container's, real
// network) nor where any IPv4 address lies outside lan.sh's 10.200.0.0/16. TCP listens on the one address given with --ip, never a wildcard.
//
// stdout: one JSON object per line, each with an "event" field:
//   {"event":"started","id":..,"addrs":[..],"peerName":..}
//   {"event":"discovery","id":..,"addrs":[..],"source":"mdns","n":1}  first mDNS sighting of a
//        peer, and again whenever the announced address set changes (n counts sightings)
//   {"event":"peer:discovery","id":..,"addrs":[..]}   libp2p's event (only for a peer that was
//        not yet in the peer store: a peer that connected first never gets one)
//   {"event":"dial","id":..,"ok":true|false,"addr"|"error":..}  our dial after a discovery
//   {"event":"connect"|"disconnect","id":..,"direction":"inbound"|"outbound","addr":..}
//   {"event":"identify","id":..,"agent":..,"protocolVersion":..,"listenAddrs":[..]}
// With --trace-mdns FILE, every mDNS packet js receives, as decoded by multicast-dns, is appended
// to FILE as a JSON line {"event":"mdns-packet","from":..,"type":..,"questions":..,"answers":..}.
//   {"event":"error","fatal":bool,"error":..}, {"event":"stopped","code":N}
// Exit: 0 on SIGTERM/SIGINT or stdin EOF (unless --ignore-stdin), 2 bad flags or refused to
// run, 3 safety timeout.

import { parseArgs } from 'node:util'
import { appendFileSync, readlinkSync } from 'node:fs'
import { isIPv4 } from 'node:net'
import { networkInterfaces } from 'node:os'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { mdns } from '@libp2p/mdns'

process.stdout.on('error', () => process.exit(4))

function emit (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

function errMsg (err) {
  if (err == null) return null
  return `${err.name ?? 'Error'}: ${err.message ?? String(err)}`
}

function fatal (code, error) {
  emit({ event: 'error', fatal: true, error })
  process.exit(code)
}

const { values: flags } = parseArgs({
  options: {
    ip: { type: 'string' },
    'no-dial': { type: 'boolean', default: false },
    'mdns-interval': { type: 'string', default: '10000' },
    'trace-mdns': { type: 'string' },
    'ignore-stdin': { type: 'boolean', default: false },
    timeout: { type: 'string', default: '300' },
    help: { type: 'boolean', default: false }
  },
  strict: true
})

if (flags.help) {
  process.stderr.write(`usage: node --import ./polyfill.mjs mdns_peer.mjs --ip A.B.C.D [--no-dial]
  [--mdns-interval MS] [--trace-mdns FILE] [--ignore-stdin] [--timeout SECONDS]
Run only inside a test network namespace. Events are JSON lines on stdout.
`)
  process.exit(0)
}

// ---------------------------------------------------------------- safety checks

if (flags.ip == null || !isIPv4(flags.ip) || flags.ip === '0.0.0.0' || flags.ip.startsWith('127.') ||
    flags.ip === '255.255.255.255') {
  fatal(2, `--ip needs the namespace's LAN IPv4 address (not a wildcard, not loopback), got ${flags.ip}`)
}
// A test namespace: every IPv4 address outside loopback is in the harness's 10.200.0.0/16 (the
// real network has others), and, where /proc/1/ns/net is readable, not pid 1's namespace.
const ours = Object.entries(networkInterfaces()).flatMap(([name, list]) =>
  (list ?? []).filter(a => a.family === 'IPv4' && !a.internal).map(a => ({ name, address: a.address })))
const foreign = ours.filter(a => !a.address.startsWith('10.200.'))
if (foreign.length > 0 || ours.length === 0) {
  fatal(2, `refusing to run mDNS outside a test namespace: IPv4 addresses ${JSON.stringify(ours)} (want only 10.200.x.y from tests/netns/lan.sh)`)
}
if (!ours.some(a => a.address === flags.ip)) fatal(2, `--ip ${flags.ip} is not an address of this namespace`)
let sameAsInit = false
try {
  sameAsInit = readlinkSync('/proc/self/ns/net') === readlinkSync('/proc/1/ns/net')
} catch {
  // not readable (no CAP_SYS_PTRACE in a container): the address check above stands alone
}
if (sameAsInit) fatal(2, 'refusing to run mDNS in the network namespace of pid 1 (the real network)')
const interval = Number.parseInt(flags['mdns-interval'], 10)
if (!(interval >= 100)) fatal(2, `bad --mdns-interval ${flags['mdns-interval']}`)
const timeoutSeconds = Number.parseFloat(flags.timeout)

// ---------------------------------------------------------------- node

const node = await createLibp2p({
  addresses: { listen: [`/ip4/${flags.ip}/tcp/0`] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  // the test LAN: no inbound rate limits for its hosts (two peers may dial each other at once)
  connectionManager: { allow: ['/ip4/10.200.0.0/ipcidr/16'] },
  services: {
    identify: identify(),
    ping: ping(),
    // a service, not peerDiscovery: so that its own 'peer' events can be observed directly
    // (libp2p's peer:discovery fires only for peers new to the peer store)
    mdns: mdns({ interval })
  }
})

const addrsOf = (mas) => mas.map(a => a.toString())
const sightings = new Map() // peer id -> { key, n }
const dialing = new Set()

async function dialPeer (id, mas) {
  if (dialing.has(id) || node.getConnections().some(c => c.remotePeer.toString() === id)) return
  dialing.add(id)
  try {
    // with /p2p/<id>: js then reuses a connection to that peer, and the handshake checks the id
    const targets = mas.map(m => m.encapsulate(`/p2p/${id}`))
    const conn = await node.dial(targets, { signal: AbortSignal.timeout(10000) })
    emit({ event: 'dial', id, ok: true, addr: conn.remoteAddr.toString() })
  } catch (err) {
    emit({ event: 'dial', id, ok: false, error: errMsg(err) })
  } finally {
    dialing.delete(id)
  }
}

node.services.mdns.addEventListener('peer', (evt) => {
  const id = evt.detail.id.toString()
  const addrs = addrsOf(evt.detail.multiaddrs)
  const key = [...addrs].sort().join(' ')
  const seen = sightings.get(id) ?? { key: null, n: 0 }
  seen.n++
  if (seen.key !== key) emit({ event: 'discovery', id, addrs, source: 'mdns', n: seen.n })
  seen.key = key
  sightings.set(id, seen)
  if (!flags['no-dial'] && evt.detail.multiaddrs.length > 0) {
    void dialPeer(id, evt.detail.multiaddrs)
  }
})

node.addEventListener('peer:discovery', (evt) => {
  emit({ event: 'peer:discovery', id: evt.detail.id.toString(), addrs: addrsOf(evt.detail.multiaddrs) })
})
node.addEventListener('connection:open', (evt) => {
  const c = evt.detail
  emit({ event: 'connect', id: c.remotePeer.toString(), direction: c.direction, addr: c.remoteAddr.toString() })
})
node.addEventListener('connection:close', (evt) => {
  const c = evt.detail
  emit({ event: 'disconnect', id: c.remotePeer.toString(), direction: c.direction, addr: c.remoteAddr.toString() })
})
node.addEventListener('peer:identify', (evt) => {
  const d = evt.detail
  emit({
    event: 'identify',
    id: d.peerId.toString(),
    agent: d.agentVersion ?? null,
    protocolVersion: d.protocolVersion ?? null,
    listenAddrs: addrsOf(d.listenAddrs)
  })
})

if (flags['trace-mdns'] != null) {
  const traceFile = flags['trace-mdns']
  // multicast-dns instance inside @libp2p/mdns (internal field): every packet it decodes
  const bufs = (v) => Array.isArray(v) ? v.map(bufs) : (Buffer.isBuffer(v) ? v.toString() : v)
  const rec = (r) => ({ name: r.name, type: r.type, ttl: r.ttl, flush: r.flush, data: bufs(r.data) })
  node.services.mdns.mdns?.on('packet', (p, rinfo) => {
    appendFileSync(traceFile, JSON.stringify({
      t: Date.now() / 1000,
      event: 'mdns-packet',
      from: `${rinfo.address}:${rinfo.port}`,
      type: p.type,
      questions: (p.questions ?? []).map(q => ({ name: q.name, type: q.type })),
      answers: (p.answers ?? []).map(rec),
      authorities: (p.authorities ?? []).map(rec),
      additionals: (p.additionals ?? []).map(rec)
    }) + '\n')
  })
}

let exiting = false
async function exitWith (code) {
  if (exiting) return
  exiting = true
  try {
    await Promise.race([node.stop(), new Promise(resolve => setTimeout(resolve, 5000))])
  } catch (err) {
    emit({ event: 'error', fatal: false, error: `stop failed: ${errMsg(err)}` })
  }
  emit({ event: 'stopped', code })
  process.exit(code)
}

process.on('SIGTERM', () => { void exitWith(0) })
process.on('SIGINT', () => { void exitWith(0) })
process.on('uncaughtException', (err) => {
  emit({ event: 'error', fatal: true, error: errMsg(err), stack: err?.stack })
  void exitWith(1)
})
process.on('unhandledRejection', (err) => {
  emit({ event: 'error', fatal: false, error: `unhandled rejection: ${errMsg(err)}` })
})
if (timeoutSeconds > 0) {
  setTimeout(() => {
    emit({ event: 'error', fatal: true, error: `safety timeout after ${timeoutSeconds} s` })
    void exitWith(3)
  }, timeoutSeconds * 1000).unref()
}
if (!flags['ignore-stdin']) {
  // stdin EOF: the driving process is gone; never outlive it (lan_spawn gives /dev/null:
  // use --ignore-stdin there and rely on SIGTERM and --timeout)
  process.stdin.on('end', () => { void exitWith(0) })
  process.stdin.resume()
}

emit({
  event: 'started',
  id: node.peerId.toString(),
  addrs: addrsOf(node.getMultiaddrs()),
  peerName: node.services.mdns.peerName ?? null,
  mdnsInterval: interval,
  dial: !flags['no-dial']
})
