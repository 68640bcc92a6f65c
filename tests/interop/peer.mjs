// js-libp2p reference peer for Starling's interop tests.
//
// One libp2p node (TCP + Noise + Yamux + identify + ping + hand-written perf,
// echo and sink protocols), driven by command-line flags and by JSON lines on
// stdin, reporting JSON lines on stdout. Every stdout line is one JSON object
// with an "event" field. See README.md for the protocol.
//
// Run with: node --import ./polyfill.mjs peer.mjs [flags]

import { parseArgs } from 'node:util'
import { createInterface } from 'node:readline'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromString } from '@libp2p/peer-id'
import { serviceCapabilities } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { Uint8ArrayList } from 'uint8arraylist'

export const PERF_PROTOCOL = '/perf/1.0.0'
export const ECHO_PROTOCOL = '/starling/test/echo/1.0.0'
export const SINK_PROTOCOL = '/starling/test/sink/1.0.0'
export const PING_PROTOCOL = '/ipfs/ping/1.0.0'

// ---------------------------------------------------------------- output

// The driving test is gone (its end of the pipe closed, e.g. it crashed): exit at once.
// Without this, EPIPE -> uncaughtException -> emit -> EPIPE ... spins at 100% CPU and
// starves the --timeout safety net (seen after an aborted test binary).
process.stdout.on('error', () => process.exit(4))

/** Write one JSON line on stdout (synchronous for pipes and files on Linux). */
function emit (obj) {
  process.stdout.write(JSON.stringify(obj, (_k, v) => typeof v === 'bigint' ? v.toString() : v) + '\n')
}

function errMsg (err) {
  if (err == null) return null
  return `${err.name ?? 'Error'}: ${err.message ?? String(err)}`
}

let exiting = false
async function exitWith (code, node) {
  if (exiting) return
  exiting = true
  if (node != null) {
    try {
      await Promise.race([node.stop(), new Promise(resolve => setTimeout(resolve, 5000))])
    } catch (err) {
      emit({ event: 'error', fatal: false, error: `stop failed: ${errMsg(err)}` })
    }
  }
  emit({ event: 'stopped', code })
  process.exit(code)
}

// ---------------------------------------------------------------- flags

const { values: flags } = parseArgs({
  options: {
    listen: { type: 'string', multiple: true },
    seed: { type: 'string' },
    'no-early-muxer': { type: 'boolean', default: false },
    'max-streams': { type: 'string' },
    agent: { type: 'string' },
    'no-connection-monitor': { type: 'boolean', default: false },
    'monitor-interval': { type: 'string' },
    'js-inbound-limits': { type: 'boolean', default: false },
    timeout: { type: 'string', default: '600' },
    help: { type: 'boolean', default: false }
  },
  strict: true
})

if (flags.help) {
  process.stderr.write(`usage: node --import ./polyfill.mjs peer.mjs [--listen MA]... [--seed HEX32]
  [--no-early-muxer] [--max-streams N] [--agent STR] [--no-connection-monitor] [--monitor-interval MS]
  [--js-inbound-limits] [--timeout SECONDS]
Commands are JSON lines on stdin; events are JSON lines on stdout (see README.md).
`)
  process.exit(0)
}

const listenAddrs = flags.listen ?? ['/ip4/127.0.0.1/tcp/0']
for (const a of listenAddrs) {
  // network safety: loopback only, never the wildcard address
  if (!/^\/ip4\/127\.\d+\.\d+\.\d+\/|^\/ip6\/::1\//.test(a)) {
    emit({ event: 'error', fatal: true, error: `refusing to listen on non-loopback address ${a}` })
    process.exit(2)
  }
}
const maxStreams = flags['max-streams'] != null ? Number.parseInt(flags['max-streams'], 10) : undefined
if (maxStreams != null && !(maxStreams > 0)) {
  emit({ event: 'error', fatal: true, error: `bad --max-streams ${flags['max-streams']}` })
  process.exit(2)
}
const timeoutSeconds = Number.parseFloat(flags.timeout)

let privateKey
if (flags.seed != null) {
  if (!/^[0-9a-fA-F]{64}$/.test(flags.seed)) {
    emit({ event: 'error', fatal: true, error: '--seed must be 64 hex characters (32 bytes)' })
    process.exit(2)
  }
  privateKey = await generateKeyPairFromSeed('Ed25519', Buffer.from(flags.seed, 'hex'))
}

// ---------------------------------------------------------------- noise wrapper

// Records, per raw connection, whether the muxer came from Noise's
// stream_muxers extension ("early muxer negotiation") and what the remote
// offered. With --no-early-muxer it also passes skipStreamMuxerNegotiation to
// js-noise, which then sends an empty stream_muxers list AND ignores the
// remote's list, so the muxer is always negotiated by multistream-select.
const earlyInfo = new WeakMap()

function instrumentedNoise (disableEarly) {
  const factory = noise()
  return (components) => {
    const inner = factory(components)
    const wrap = (fn) => async (connection, options = {}) => {
      const opts = disableEarly ? { ...options, skipStreamMuxerNegotiation: true } : options
      const result = await fn.call(inner, connection, opts)
      earlyInfo.set(connection, {
        earlyMuxer: result.streamMuxer?.protocol ?? null,
        remoteStreamMuxers: result.remoteExtensions?.streamMuxers ?? []
      })
      return result
    }
    return {
      protocol: inner.protocol,
      [Symbol.toStringTag]: inner[Symbol.toStringTag],
      [serviceCapabilities]: inner[serviceCapabilities],
      secureInbound: wrap(inner.secureInbound),
      secureOutbound: wrap(inner.secureOutbound)
    }
  }
}

// ---------------------------------------------------------------- stream helpers

/**
 * Event-based reader. Attach it as soon as a stream exists: it does not rely
 * on the 'remoteCloseWrite' event (which fires once and may be missed), but on
 * 'end'/'close' and `readableEnded`.
 */
class StreamReader {
  constructor (stream, { keep = true } = {}) {
    this.stream = stream
    this.keep = keep
    this.buf = new Uint8ArrayList()
    this.total = 0
    this.ended = stream.readableEnded === true
    this.error = null
    this.waiters = []
    stream.addEventListener('message', (evt) => {
      this.total += evt.data.byteLength
      if (this.keep) this.buf.append(evt.data)
      this.wake()
    })
    stream.addEventListener('end', () => { this.ended = true; this.wake() })
    stream.addEventListener('close', (evt) => {
      if (evt.error != null) this.error = evt.error
      this.ended = true
      this.wake()
    })
  }

  wake () {
    const w = this.waiters
    this.waiters = []
    for (const fn of w) fn()
  }

  wait () {
    return new Promise(resolve => this.waiters.push(resolve))
  }

  /** Exactly n bytes; throws on reset or EOF before n bytes. */
  async read (n) {
    while (this.buf.byteLength < n) {
      if (this.error != null) throw this.error
      if (this.ended) throw new Error(`EOF after ${this.buf.byteLength} of ${n} bytes`)
      await this.wait()
    }
    const out = this.buf.subarray(0, n)
    this.buf.consume(n)
    return out
  }

  /** Whatever is buffered (waiting for at least one byte), or null at EOF. */
  async next () {
    while (this.buf.byteLength === 0) {
      if (this.error != null) throw this.error
      if (this.ended) return null
      await this.wait()
    }
    const out = this.buf.subarray()
    this.buf.consume(out.byteLength)
    return out
  }

  /** Wait for EOF; returns the total bytes received. Throws on reset. */
  async toEnd () {
    while (!this.ended) await this.wait()
    if (this.error != null) throw this.error
    return this.total
  }

  /** Wait for EOF or reset, never throws: 'eof' or the error text. */
  async settle () {
    while (!this.ended) await this.wait()
    return this.error != null ? errMsg(this.error) : 'eof'
  }
}

const ZEROS = new Uint8Array(64 * 1024)

async function sendBytes (stream, data) {
  for (let off = 0; off < data.byteLength; off += ZEROS.byteLength) {
    if (!stream.send(data.subarray(off, off + ZEROS.byteLength))) await stream.onDrain()
  }
}

async function sendZeros (stream, n) {
  let left = n
  while (left > 0) {
    const chunk = left >= ZEROS.byteLength ? ZEROS : ZEROS.subarray(0, left)
    left -= chunk.byteLength
    if (!stream.send(chunk)) await stream.onDrain()
  }
}

function u64be (n) {
  const b = new Uint8Array(8)
  new DataView(b.buffer).setBigUint64(0, BigInt(n), false)
  return b
}

function readU64be (bytes) {
  const b = bytes.subarray ? bytes.subarray(0, 8) : bytes
  return new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, false)
}

function randomBytes (n) {
  const out = new Uint8Array(n)
  for (let off = 0; off < n; off += 65536) {
    crypto.getRandomValues(out.subarray(off, Math.min(n, off + 65536)))
  }
  return out
}

function equalBytes (a, b) {
  return a.byteLength === b.byteLength && Buffer.from(a.buffer, a.byteOffset, a.byteLength)
    .equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))
}

// ---------------------------------------------------------------- handlers

function streamEvent (protocol, stream, connection, fields) {
  emit({
    event: 'stream',
    protocol,
    peerId: connection.remotePeer.toString(),
    streamId: stream.id,
    direction: 'inbound',
    ...fields
  })
}

/** /starling/test/echo/1.0.0: echo everything until the remote closes its write side, then close. */
async function handleEcho (stream, connection) {
  const r = new StreamReader(stream)
  let bytesOut = 0
  try {
    for (;;) {
      const chunk = await r.next()
      if (chunk == null) break
      bytesOut += chunk.byteLength
      if (!stream.send(chunk)) await stream.onDrain()
    }
    await stream.close()
    streamEvent(ECHO_PROTOCOL, stream, connection, { result: 'ok', bytesIn: r.total, bytesOut })
  } catch (err) {
    stream.abort(err)
    streamEvent(ECHO_PROTOCOL, stream, connection, { result: 'error', error: errMsg(err), status: stream.status, bytesIn: r.total, bytesOut })
  }
}

/** /starling/test/sink/1.0.0: read to EOF, reply with the byte count as 8-byte BE, close. */
async function handleSink (stream, connection) {
  const r = new StreamReader(stream, { keep: false })
  try {
    const n = await r.toEnd()
    stream.send(u64be(n))
    await stream.close()
    streamEvent(SINK_PROTOCOL, stream, connection, { result: 'ok', bytesIn: n })
  } catch (err) {
    stream.abort(err)
    streamEvent(SINK_PROTOCOL, stream, connection, { result: 'error', error: errMsg(err), status: stream.status, bytesIn: r.total })
  }
}

/** /perf/1.0.0 server: 8-byte BE count, upload to EOF, then send count bytes and close. */
async function handlePerf (stream, connection) {
  const r = new StreamReader(stream)
  let sent = 0
  try {
    const want = readU64be(await r.read(8))
    r.keep = false
    r.buf = new Uint8ArrayList()
    const uploaded = (await r.toEnd()) - 8
    if (want > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`perf: absurd download request ${want}`)
    await sendZeros(stream, Number(want))
    sent = Number(want)
    await stream.close()
    streamEvent(PERF_PROTOCOL, stream, connection, { result: 'ok', uploadBytes: uploaded, downloadBytes: sent })
  } catch (err) {
    stream.abort(err)
    streamEvent(PERF_PROTOCOL, stream, connection, { result: 'error', error: errMsg(err), status: stream.status, bytesIn: r.total, bytesOut: sent })
  }
}

// ---------------------------------------------------------------- node

const protoLimits = maxStreams != null ? { maxInboundStreams: maxStreams, maxOutboundStreams: maxStreams } : {}
const yamuxInit = maxStreams != null
  ? { maxInboundStreams: Math.max(1000, maxStreams + 64), maxOutboundStreams: Math.max(1000, maxStreams + 64) }
  : {}

const node = await createLibp2p({
  ...(privateKey != null ? { privateKey } : {}),
  addresses: { listen: listenAddrs },
  transports: [tcp()],
  connectionEncrypters: [instrumentedNoise(flags['no-early-muxer'])],
  streamMuxers: [yamux(yamuxInit)],
  connectionMonitor: {
    enabled: !flags['no-connection-monitor'],
    // js pings every 10 s by default; tests shorten it to see many rounds in a few minutes
    ...(flags['monitor-interval'] != null ? { pingInterval: Number(flags['monitor-interval']) } : {})
  },
  // js refuses (TCP reset) a host's 6th inbound connection within one second
  // (inboundConnectionThreshold 5) and caps pending/total connections; tests
  // reconnect from 127.0.0.1 quickly, so loopback is allow-listed unless
  // --js-inbound-limits keeps the js defaults
  ...(flags['js-inbound-limits'] ? {} : { connectionManager: { allow: ['/ip4/127.0.0.0/ipcidr/8', '/ip6/::1/ipcidr/128'] } }),
  ...(flags.agent != null ? { nodeInfo: { userAgent: flags.agent } } : {}),
  services: {
    identify: identify(),
    // outbound limit 2 (default 1) so a `ping` command never collides with
    // the connection monitor's own ping stream; inbound stays at js's 2
    ping: ping({ maxOutboundStreams: 2 })
  }
})

function connInfo (conn) {
  const early = earlyInfo.get(conn.maConn)
  return {
    connectionId: conn.id,
    peerId: conn.remotePeer.toString(),
    remoteAddr: conn.remoteAddr.toString(),
    direction: conn.direction,
    status: conn.status,
    encryption: conn.encryption,
    muxer: conn.multiplexer ?? null,
    earlyMuxer: early != null ? early.earlyMuxer != null : null,
    remoteStreamMuxers: early?.remoteStreamMuxers ?? null,
    // set by the connection monitor after its first /ipfs/ping round trip
    rtt: conn.rtt ?? null
  }
}

node.addEventListener('connection:open', (evt) => {
  emit({ event: 'connection:open', ...connInfo(evt.detail) })
})
node.addEventListener('connection:close', (evt) => {
  const conn = evt.detail
  emit({ event: 'connection:close', ...connInfo(conn) })
})
node.addEventListener('peer:identify', (evt) => {
  const d = evt.detail
  emit({
    event: 'identify',
    peerId: d.peerId.toString(),
    protocols: d.protocols,
    listenAddrs: d.listenAddrs.map(a => a.toString()),
    observedAddr: d.observedAddr?.toString() ?? null,
    agentVersion: d.agentVersion ?? null,
    protocolVersion: d.protocolVersion ?? null,
    signedPeerRecord: d.signedPeerRecord != null
      ? { seq: d.signedPeerRecord.seq, addresses: d.signedPeerRecord.addresses.map(a => a.toString()) }
      : null
  })
})

await node.handle(ECHO_PROTOCOL, handleEcho, protoLimits)
await node.handle(SINK_PROTOCOL, handleSink, protoLimits)
await node.handle(PERF_PROTOCOL, handlePerf, protoLimits)

process.on('uncaughtException', (err) => {
  emit({ event: 'error', fatal: true, error: errMsg(err), stack: err?.stack })
  exitWith(1, node)
})
process.on('unhandledRejection', (err) => {
  // libp2p internals sometimes reject without a handler (e.g. after a reset);
  // report, but do not die: the test decides whether this matters
  emit({ event: 'error', fatal: false, error: `unhandled rejection: ${errMsg(err)}` })
})

if (timeoutSeconds > 0) {
  setTimeout(() => {
    emit({ event: 'error', fatal: true, error: `safety timeout after ${timeoutSeconds} s` })
    exitWith(3, node)
  }, timeoutSeconds * 1000)
}

emit({
  event: 'listening',
  peerId: node.peerId.toString(),
  addrs: node.getMultiaddrs().map(a => a.toString()),
  protocols: node.getProtocols(),
  earlyMuxer: !flags['no-early-muxer'],
  connectionMonitor: !flags['no-connection-monitor'],
  jsInboundLimits: flags['js-inbound-limits'],
  maxStreams: maxStreams ?? null
})

// ---------------------------------------------------------------- commands

function target (cmd) {
  if (cmd.addr != null) return multiaddr(cmd.addr)
  if (cmd.peer != null) return peerIdFromString(cmd.peer)
  throw new Error('command needs "addr" or "peer"')
}

async function connectionFor (cmd) {
  return node.dial(target(cmd), withTimeout(cmd))
}

function withTimeout (cmd, defMs = 30000) {
  return { signal: AbortSignal.timeout(cmd.timeoutMs ?? defMs) }
}

async function openStream (conn, protocol, cmd) {
  return conn.newStream(protocol, { ...withTimeout(cmd, 10000), ...protoLimits })
}

const commands = {
  async dial (cmd) {
    const conn = await connectionFor(cmd)
    return connInfo(conn)
  },

  async hangup (cmd) {
    await node.hangUp(target(cmd), withTimeout(cmd))
    return {}
  },

  async ping (cmd) {
    const count = cmd.count ?? 1
    const rtts = []
    if (cmd.reuse === true) {
      // go/rust style: many pings on one stream
      const conn = await connectionFor(cmd)
      const stream = await openStream(conn, PING_PROTOCOL, cmd)
      const r = new StreamReader(stream)
      for (let i = 0; i < count; i++) {
        const data = randomBytes(32)
        const start = performance.now()
        stream.send(data)
        const back = await r.read(32)
        rtts.push(performance.now() - start)
        if (!equalBytes(data, back.subarray())) throw new Error(`ping ${i}: wrong echo`)
      }
      await stream.close()
      const outcome = await r.settle()
      if (outcome !== 'eof') throw new Error(`ping stream did not end cleanly: ${outcome}`)
    } else if (cmd.halfClose === true) {
      // write the 32 bytes and our FIN at once, then expect the echo and the
      // remote's FIN: probes a ping handler that must answer after EOF
      const conn = await connectionFor(cmd)
      for (let i = 0; i < count; i++) {
        const stream = await openStream(conn, PING_PROTOCOL, cmd)
        const r = new StreamReader(stream)
        const data = randomBytes(32)
        const start = performance.now()
        stream.send(data)
        await stream.close()
        const outcome = await Promise.race([
          r.settle(),
          new Promise(resolve => setTimeout(() => resolve('no FIN within 5 s'), 5000))
        ])
        rtts.push(performance.now() - start)
        if (!equalBytes(data, r.buf.subarray())) throw new Error(`ping ${i}: wrong echo (${r.total} bytes), outcome ${outcome}`)
        if (outcome !== 'eof') throw new Error(`ping ${i}: echo ok but ${outcome}`)
      }
    } else {
      // js style (libp2p.services.ping): one stream per ping
      const t = target(cmd)
      for (let i = 0; i < count; i++) {
        rtts.push(await node.services.ping.ping(t, withTimeout(cmd, 10000)))
      }
    }
    return { count, rtts }
  },

  async identify (cmd) {
    const conn = await connectionFor(cmd)
    const d = await node.services.identify.identify(conn, withTimeout(cmd))
    return {
      peerId: d.peerId.toString(),
      protocols: d.protocols,
      listenAddrs: d.listenAddrs.map(a => a.toString()),
      observedAddr: d.observedAddr?.toString() ?? null,
      agentVersion: d.agentVersion ?? null,
      protocolVersion: d.protocolVersion ?? null
    }
  },

  async open (cmd) {
    // open a stream for cmd.protocol and reset it at once: does the remote accept the
    // protocol at multistream-select? Fails with UnsupportedProtocolError when it answers `na`.
    if (typeof cmd.protocol !== 'string') throw new Error('open needs "protocol"')
    const conn = await connectionFor(cmd)
    let stream
    try {
      stream = await openStream(conn, cmd.protocol, cmd)
    } catch (err) {
      err.details = { protocol: cmd.protocol, connectionStatus: conn.status }
      throw err
    }
    const selected = stream.protocol
    stream.abort(new Error('open: probe only'))
    return { protocol: selected, connectionStatus: conn.status }
  },

  async perf (cmd) {
    const upload = cmd.upload ?? 0
    const download = cmd.download ?? 0
    const conn = await connectionFor(cmd)
    const start = performance.now()
    const stream = await openStream(conn, PERF_PROTOCOL, { timeoutMs: 10000, ...cmd })
    const r = new StreamReader(stream, { keep: false })
    stream.send(u64be(download))
    await sendZeros(stream, upload)
    await stream.close()
    const uploadDone = performance.now()
    const got = await r.toEnd()
    const end = performance.now()
    if (got !== download) throw new Error(`perf: asked for ${download} bytes, got ${got}`)
    return {
      type: 'final',
      timeSeconds: (end - start) / 1000,
      uploadSeconds: (uploadDone - start) / 1000,
      downloadSeconds: (end - uploadDone) / 1000,
      uploadBytes: upload,
      downloadBytes: got
    }
  },

  async streams (cmd) {
    const n = cmd.n ?? 200
    const bytes = cmd.bytes ?? 1024
    const conn = await connectionFor(cmd)
    const start = performance.now()
    const one = async (i) => {
      const stream = await openStream(conn, ECHO_PROTOCOL, cmd)
      const r = new StreamReader(stream)
      const data = randomBytes(bytes)
      await sendBytes(stream, data)
      await stream.close()
      await r.toEnd()
      const back = r.buf.subarray()
      if (!equalBytes(data, back)) throw new Error(`stream ${i}: echo mismatch (${back.byteLength}/${bytes} bytes)`)
    }
    const results = await Promise.allSettled(Array.from({ length: n }, (_, i) => one(i)))
    const failures = results.filter(x => x.status === 'rejected')
    const errors = [...new Set(failures.map(x => errMsg(x.reason)))].slice(0, 5)
    if (failures.length > 0) {
      const e = new Error(`${failures.length}/${n} streams failed: ${errors.join(' | ')}`)
      e.details = { n, bytes, succeeded: n - failures.length, failed: failures.length, errors }
      throw e
    }
    return { n, bytes, succeeded: n, failed: 0, timeSeconds: (performance.now() - start) / 1000 }
  },

  async halfclose (cmd) {
    // write, close our write side, then keep reading: the remote must still be
    // able to send (echo: the data back; sink: the 8-byte count) and then close
    const bytes = cmd.bytes ?? 1024
    const protocol = cmd.protocol === 'sink' ? SINK_PROTOCOL : ECHO_PROTOCOL
    const conn = await connectionFor(cmd)
    const stream = await openStream(conn, protocol, cmd)
    const r = new StreamReader(stream)
    const data = randomBytes(bytes)
    await sendBytes(stream, data)
    await stream.close()
    const writeStatusAfterClose = stream.writeStatus
    const outcome = await r.settle()
    const back = r.buf.subarray()
    const res = {
      protocol,
      bytesSent: bytes,
      bytesReceived: r.total,
      writeStatusAfterClose,
      outcome,
      status: stream.status,
      remoteWriteStatus: stream.remoteWriteStatus
    }
    if (protocol === ECHO_PROTOCOL) {
      res.echoMatches = equalBytes(data, back)
    } else {
      res.count = back.byteLength === 8 ? Number(readU64be(back)) : null
      res.countMatches = res.count === bytes
    }
    if (outcome !== 'eof' || (res.echoMatches ?? res.countMatches) !== true) {
      const e = new Error(`halfclose failed: outcome ${outcome}`)
      e.details = res
      throw e
    }
    return res
  },

  async reset (cmd) {
    // open an echo stream, write, optionally wait for the echo, then abort
    // (yamux RST); afterwards prove the connection still works with a second
    // echo stream
    const bytes = cmd.bytes ?? 1024
    const conn = await connectionFor(cmd)
    const stream = await openStream(conn, ECHO_PROTOCOL, cmd)
    const r = new StreamReader(stream)
    const data = randomBytes(bytes)
    await sendBytes(stream, data)
    if (cmd.waitEcho !== false) await r.read(bytes)
    stream.abort(new Error('reset by test'))
    const statusAfterReset = stream.status
    let sendAfterReset
    try {
      stream.send(new Uint8Array(1))
      sendAfterReset = 'accepted'
    } catch (err) {
      sendAfterReset = errMsg(err)
    }
    // the connection must survive a stream reset
    const probe = await openStream(conn, ECHO_PROTOCOL, cmd)
    const pr = new StreamReader(probe)
    const probeData = randomBytes(64)
    probe.send(probeData)
    await probe.close()
    await pr.toEnd()
    const connectionAlive = equalBytes(probeData, pr.buf.subarray())
    const res = { bytesSent: bytes, bytesReceivedBeforeReset: r.total, statusAfterReset, sendAfterReset, connectionStatus: conn.status, connectionAlive }
    if (!connectionAlive || statusAfterReset !== 'aborted') {
      const e = new Error('reset test failed')
      e.details = res
      throw e
    }
    return res
  },

  async peers () {
    return { connections: node.getConnections().map(c => ({ ...connInfo(c), streams: c.streams.map(s => ({ id: s.id, protocol: s.protocol, direction: s.direction, status: s.status })) })) }
  },

  async stop () {
    return {}
  }
}

async function runCommand (line) {
  let cmd
  try {
    cmd = JSON.parse(line)
  } catch (err) {
    emit({ event: 'error', fatal: false, error: `bad command line: ${errMsg(err)}`, line })
    return
  }
  const id = cmd.id ?? null
  const fn = commands[cmd.cmd]
  if (fn == null) {
    emit({ event: 'result', id, cmd: cmd.cmd ?? null, ok: false, error: `unknown command ${JSON.stringify(cmd.cmd)}` })
    return
  }
  try {
    const res = await fn(cmd)
    emit({ event: 'result', id, cmd: cmd.cmd, ok: true, ...res })
  } catch (err) {
    emit({ event: 'result', id, cmd: cmd.cmd, ok: false, error: errMsg(err), ...(err?.details ?? {}) })
  }
  if (cmd.cmd === 'stop') await exitWith(0, node)
}

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity })
rl.on('line', (line) => {
  if (line.trim() === '') return
  runCommand(line).catch(err => emit({ event: 'error', fatal: false, error: errMsg(err) }))
})
rl.on('close', () => {
  // stdin EOF: the driving test is gone (or done); never outlive it
  emit({ event: 'stdin-eof' })
  exitWith(0, node)
})
