'use strict'
// The packed layouts the addon fills (Float64Array slots, bit values, string orders) and the
// enum strings it uses, read once from the addon (src/layout.rs declares them). A reader asks
// for a layout by name with the slot names it reads and gets their positions:
//   const S = layout('process', ['PID', 'AT_MS'])   ->   b[S.PID]
// Asking for a name the addon does not declare throws; __test__/layout.test.js checks that
// every declared slot is read by someone and every read slot is declared.

const { native, supported } = require('./native')
const { internalError } = require('./errors')

let doc = null
const reads = new Map() // layout name -> Set of names read

function load () {
  if (doc === null) doc = JSON.parse(native().layouts())
  return doc
}

/** Positions of `names` in layout `name` (plus LEN and whatever else the layout carries). */
function layout (name, names) {
  const l = load().layouts[name]
  if (l === undefined) throw internalError(`the addon declares no layout '${name}'`)
  let seen = reads.get(name)
  if (seen === undefined) reads.set(name, (seen = new Set()))
  for (const n of names) {
    if (!(n in l)) throw internalError(`layout '${name}' has no slot '${n}': the addon and lib/ disagree`)
    seen.add(n)
  }
  return Object.freeze({ ...l })
}

/** NaN (a slot the kernel did not give) as null: the one reading of a packed number. */
const orNull = (x) => (x !== x ? null : x) // eslint-disable-line no-self-compare

/** An enum's strings, index = the number the addon writes. */
function enumStrings (name) {
  const e = load().enums[name]
  if (e === undefined) throw internalError(`the addon declares no enum '${name}'`)
  return Object.freeze([...e])
}

function constant (name) {
  const c = load().constants[name]
  if (c === undefined) throw internalError(`the addon declares no constant '${name}'`)
  return c
}

let strNull = null

/**
 * The reader of a string channel (src/layout.rs `Strings`): `text` holds the strings one after
 * the other, `lens` each one's length in UTF-16 units or the addon's null mark. `next()` gives
 * them in order, any character included; reading past the end is an internal error, never an
 * undefined passed on as a value.
 */
class Strings {
  constructor (text, lens) {
    if (strNull === null) strNull = constant('strNull')
    this.text = text
    this.lens = lens
    this.at = 0
    this.i = 0
  }

  next () {
    const n = this.lens[this.i++]
    if (n === strNull) return null
    if (n === undefined) throw internalError('a string channel ended early: the addon and lib/ disagree')
    const start = this.at
    this.at = start + n
    return this.text.slice(start, this.at)
  }

  /** Whether every string has been read. */
  done () {
    return this.i === this.lens.length
  }
}

const strings = (text, lens) => new Strings(text, lens)

/** For the layout test: what the addon declares and what the readers asked for. */
function declared () {
  return load()
}

function readNames () {
  return new Map([...reads].map(([k, v]) => [k, [...v]]))
}

module.exports = { supported, orNull, layout, enumStrings, constant, strings, declared, readNames }
