'use strict'
// The report's JSON Schema (schema.json, version 1) and a small validator for the part of
// JSON Schema it uses (type, const, enum, required, properties, additionalProperties, items,
// minimum, local $ref): `kernelscope report` checks its input with it, without a dependency.

const SCHEMA = require('./schema.json')

const FORMAT = 'kernelscope-report'
const VERSION = 1

function typeOf (v) {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'array'
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number'
  return typeof v
}

function typeMatches (want, v) {
  const t = typeOf(v)
  return t === want || (want === 'number' && t === 'integer')
}

function resolve (root, ref) {
  if (!ref.startsWith('#/')) throw new Error(`unsupported $ref ${ref}`)
  let node = root
  for (const part of ref.slice(2).split('/')) node = node[part]
  if (node === undefined) throw new Error(`unresolved $ref ${ref}`)
  return node
}

function check (root, schema, value, path, errors) {
  if (errors.length >= 20) return
  if (schema.$ref) return check(root, resolve(root, schema.$ref), value, path, errors)
  if ('const' in schema && value !== schema.const) {
    errors.push({ path, message: `must be ${JSON.stringify(schema.const)}` })
    return
  }
  if (schema.enum && !schema.enum.includes(value)) {
    errors.push({ path, message: `must be one of ${schema.enum.map((e) => JSON.stringify(e)).join(', ')}` })
    return
  }
  if (schema.type) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type]
    if (!types.some((t) => typeMatches(t, value))) {
      errors.push({ path, message: `must be ${types.join(' or ')}, is ${typeOf(value)}` })
      return
    }
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) errors.push({ path, message: 'must be a finite number' })
    else if (schema.minimum !== undefined && value < schema.minimum) errors.push({ path, message: `must be >= ${schema.minimum}` })
  }
  if (Array.isArray(value) && schema.items) {
    for (let i = 0; i < value.length; i++) check(root, schema.items, value[i], `${path}[${i}]`, errors)
  } else if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const key of schema.required || []) {
      if (!(key in value)) errors.push({ path, message: `must have property ${key}` })
    }
    const props = schema.properties || {}
    for (const key of Object.keys(value)) {
      if (props[key]) check(root, props[key], value[key], `${path}.${key}`, errors)
      else if (schema.additionalProperties !== undefined && schema.additionalProperties !== true) {
        if (schema.additionalProperties === false) errors.push({ path, message: `must not have property ${key}` })
        else check(root, schema.additionalProperties, value[key], `${path}.${key}`, errors)
      }
    }
  }
}

/** Checks a parsed report against schema.json; returns [] or up to 20 { path, message }. */
function validateReport (value) {
  const errors = []
  check(SCHEMA, SCHEMA, value, '$', errors)
  return errors
}

module.exports = { SCHEMA, FORMAT, VERSION, validateReport }
