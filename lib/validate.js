'use strict'
// Argument checks shared by every public function.

const { invalidArgType, outOfRange } = require('./errors')

function optionsObject (value, name = 'options') {
  if (value === undefined) return {}
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalidArgType(name, 'of type object', value)
  }
  return value
}

function optionalBoolean (opts, key, fallback, prefix = 'options') {
  const v = opts[key]
  if (v === undefined) return fallback
  if (typeof v !== 'boolean') throw invalidArgType(`${prefix}.${key}`, 'of type boolean', v)
  return v
}

function optionalInteger (opts, key, fallback, min, max, prefix = 'options') {
  const v = opts[key]
  if (v === undefined) return fallback
  if (typeof v !== 'number') throw invalidArgType(`${prefix}.${key}`, 'of type number', v)
  if (!Number.isInteger(v)) throw outOfRange(`${prefix}.${key}`, 'an integer', v)
  if (v < min || v > max) throw outOfRange(`${prefix}.${key}`, `>= ${min} && <= ${max}`, v)
  return v
}

module.exports = { optionsObject, optionalBoolean, optionalInteger }
