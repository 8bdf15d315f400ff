'use strict'
// Node-style errors: TypeError ERR_INVALID_ARG_TYPE, RangeError ERR_OUT_OF_RANGE, system errors
// with code/errno/syscall, and the translation of the native layer's tagged reasons.

const util = require('node:util')

const TAG = 'KSERR'

function describe (value) {
  if (value === null) return 'null'
  if (value === undefined) return 'undefined'
  // a Proxy's traps may throw or lie: described without touching it
  if (util.types.isProxy(value)) return `a Proxy (${typeof value})`
  if (typeof value === 'function') return `function ${value.name || '<anonymous>'}`
  if (typeof value === 'object') {
    const ctor = value.constructor && value.constructor.name
    return ctor ? `an instance of ${ctor}` : util.inspect(value, { depth: -1 })
  }
  let shown = util.inspect(value)
  if (shown.length > 28) shown = `${shown.slice(0, 25)}...`
  return `type ${typeof value} (${shown})`
}

function withCode (err, code) {
  Object.defineProperty(err, 'code', { value: code, enumerable: true, writable: true, configurable: true })
  return err
}

/** An Error (or `Ctor`) with a Node-style `code`. */
function codedError (code, message, Ctor = Error) {
  return withCode(new Ctor(message), code)
}

/** A kernelscope bug or a mismatched build: never the caller's fault. */
function internalError (message) {
  return codedError('ERR_KERNELSCOPE_INTERNAL', message)
}

function invalidArgType (name, expected, actual) {
  return withCode(new TypeError(`The "${name}" argument must be ${expected}. Received ${describe(actual)}`),
    'ERR_INVALID_ARG_TYPE')
}

function outOfRange (name, range, actual) {
  return withCode(new RangeError(`The value of "${name}" is out of range. It must be ${range}. Received ${util.inspect(actual)}`),
    'ERR_OUT_OF_RANGE')
}

function unsupported (reason) {
  const err = withCode(new Error(`kernelscope is not supported here: ${reason}`), 'ERR_KERNELSCOPE_UNSUPPORTED_PLATFORM')
  return err
}

function systemError (errno, syscall, detail) {
  let code
  try {
    code = util.getSystemErrorName(-Math.abs(errno))
  } catch {
    code = 'UNKNOWN'
  }
  const desc = (util.getSystemErrorMap().get(-Math.abs(errno)) || [code, 'unknown error'])[1]
  const err = new Error(`${code}: ${desc}, ${syscall}${detail ? ` '${detail}'` : ''}`)
  withCode(err, code)
  err.errno = -Math.abs(errno)
  err.syscall = syscall
  if (detail) err.path = detail
  return err
}

// Turns an error thrown by the native layer into its public form; anything else is returned
// as it came.
function fromNative (err) {
  if (!err || typeof err.message !== 'string' || !err.message.startsWith(TAG)) return err
  let info
  try {
    info = JSON.parse(err.message.slice(TAG.length))
  } catch {
    return err
  }
  if (info.kind === 'sys') return systemError(info.errno, info.syscall, info.detail)
  if (info.code === 'ERR_OUT_OF_RANGE') return withCode(new RangeError(info.detail), info.code)
  if (info.code === 'ERR_INVALID_ARG_TYPE' || info.code === 'ERR_INVALID_ARG_VALUE') return withCode(new TypeError(info.detail), info.code)
  return withCode(new Error(info.detail), info.code || 'ERR_KERNELSCOPE_INTERNAL')
}

module.exports = { codedError, internalError, invalidArgType, outOfRange, unsupported, systemError, fromNative }
