// Node 20 lacks Promise.withResolvers (added in Node 22), which libp2p 3.x,
// its yamux ping path and its stream utilities call. Load this module before
// anything else: `node --import ./polyfill.mjs peer.mjs ...`.
if (typeof Promise.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    enumerable: false,
    value: function withResolvers () {
      let resolve
      let reject
      const promise = new this((res, rej) => {
        resolve = res
        reject = rej
      })
      return { promise, resolve, reject }
    }
  })
}
