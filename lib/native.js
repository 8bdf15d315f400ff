'use strict'
// Loads the native addon. KERNELSCOPE_BINARY points the loader at a specific .node file (for
// tests and custom builds); otherwise the napi-rs generated loader (native.js) picks the local
// build or the per-platform package. Failure is not thrown here: `supported` becomes false and
// every call throws ERR_KERNELSCOPE_UNSUPPORTED_PLATFORM with the reason.

const path = require('node:path')
const { unsupported, fromNative } = require('./errors')

let binding = null
let loadError = null

if (process.platform !== 'linux') {
  loadError = `kernelscope reads Linux /proc and needs Linux; this is ${process.platform}/${process.arch}`
} else {
  try {
    binding = process.env.KERNELSCOPE_BINARY
      ? require(path.resolve(process.env.KERNELSCOPE_BINARY))
      : require('../native.js')
  } catch (err) {
    loadError = `the native addon did not load (${String(err && err.message).split('\n')[0]}); ` +
      'build it with `npm run build` or install the prebuilt package for ' +
      `${process.platform}-${process.arch}`
  }
}

function native () {
  if (binding === null) throw unsupported(loadError)
  return binding
}

/**
 * `fn(...args)` (an addon function, or a thunk calling one) with the addon's tagged errors
 * turned into their public form (lib/errors.js fromNative): the one way lib/ calls the addon.
 */
function call (fn, ...args) {
  try {
    return fn(...args)
  } catch (err) {
    throw fromNative(err)
  }
}

/** `call` for an addon function returning a Promise: a throw becomes a rejection, and both
 * are in their public form. */
function callAsync (fn, ...args) {
  let promise
  try {
    promise = fn(...args)
  } catch (err) {
    return Promise.reject(fromNative(err))
  }
  return promise.then(null, (err) => { throw fromNative(err) })
}

module.exports = { native, call, callAsync, supported: binding !== null, loadError }
