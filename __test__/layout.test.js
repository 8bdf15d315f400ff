'use strict'
// The packed layouts are declared once (src/layout.rs) and read by name (lib/layout.js): here
// both sides are checked to read exactly the same names, and the enum strings the addon uses
// against the types in index.d.ts.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const net = require('node:net')
const path = require('node:path')

const ks = require('..')
const layout = require('../lib/layout')

// names a layout carries that are not slots read by a reader
const META = new Set(['LEN'])

function unionOf (dts, name) {
  const m = new RegExp(`export type ${name} =([^;]*?)(?:\\n\\n|\\nexport )`).exec(dts)
  assert.ok(m, `index.d.ts declares ${name}`)
  return [...m[1].matchAll(/'([^']*)'/g)].map((x) => x[1]).sort()
}

test('every slot the addon declares is read by lib/, and lib/ reads no other', async () => {
  // socketState() reads its layout on first use
  const server = net.createServer((s) => s.end())
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  try {
    ks.socketState(server)
  } finally {
    await new Promise((resolve) => server.close(resolve))
  }
  // the wait sampler's reader reads its layout at the first drain (an explain's end)
  await ks.explain('layout', () => {})
  const { layouts } = layout.declared()
  const reads = layout.readNames()
  const names = Object.keys(layouts).sort()
  assert.ok(names.length >= 6, names.join())
  for (const name of names) {
    const declared = Object.keys(layouts[name]).filter((k) => !META.has(k)).sort()
    assert.deepEqual((reads.get(name) || []).slice().sort(), declared, `layout '${name}'`)
  }
  assert.deepEqual([...reads.keys()].filter((k) => !(k in layouts)), [])
})

test('slot layouts are positions 0..LEN-1, each once; bits are distinct powers of two', () => {
  const { layouts } = layout.declared()
  for (const [name, l] of Object.entries(layouts)) {
    if (name === 'fdsBits') {
      const values = Object.values(l)
      assert.equal(new Set(values).size, values.length)
      for (const v of values) assert.equal(v & (v - 1), 0, `${name}: ${v}`)
      continue
    }
    const slots = Object.entries(l).filter(([k]) => !META.has(k) && k !== 'TCP').map(([, v]) => v).sort((a, b) => a - b)
    const len = name === 'socket' ? l.TCP : l.LEN
    assert.deepEqual(slots, Array.from({ length: len }, (_, i) => i), name)
  }
  const { enums } = layout.declared()
  assert.equal(layouts.socket.LEN, layouts.socket.TCP + enums.tcpFields.length)
})

test('a reader asking for a slot the addon does not declare gets ERR_KERNELSCOPE_INTERNAL', () => {
  assert.throws(() => layout.layout('process', ['NO_SUCH_SLOT']), { code: 'ERR_KERNELSCOPE_INTERNAL' })
  assert.throws(() => layout.layout('noSuchLayout', []), { code: 'ERR_KERNELSCOPE_INTERNAL' })
  assert.throws(() => layout.enumStrings('noSuchEnum'), { code: 'ERR_KERNELSCOPE_INTERNAL' })
})

test('the enum strings the addon uses are the ones index.d.ts declares', () => {
  const dts = fs.readFileSync(path.join(__dirname, '..', 'index.d.ts'), 'utf8')
  const { enums } = layout.declared()
  assert.deepEqual([...enums.fdTypes].sort(), unionOf(dts, 'FdType'))
  assert.deepEqual([...new Set(enums.tcpStates)].sort(), unionOf(dts, 'SocketStateName'))
  assert.deepEqual([...enums.threadRoles].sort(), unionOf(dts, 'ThreadRole'))
  assert.deepEqual([...enums.roleSources].sort(), unionOf(dts, 'ThreadRoleSource'))
  assert.deepEqual([...enums.threadStates].sort(), unionOf(dts, 'ThreadState'))
})

test('what the probes report uses those strings (kernel truth: /proc/self/task states)', () => {
  const { enums } = layout.declared()
  for (const t of ks.threads({ syscalls: false })) {
    assert.ok(enums.threadRoles.includes(t.role), t.role)
    assert.ok(enums.roleSources.includes(t.roleSource), t.roleSource)
    assert.ok(enums.threadStates.includes(t.state), t.state)
  }
  for (const e of ks.fdsSync({ sockets: false })) assert.ok(enums.fdTypes.includes(e.type), e.type)
  // the main thread's state letter, read directly, names the state threads() reports for it
  const stat = fs.readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8')
  const letter = stat.slice(stat.lastIndexOf(')') + 2)[0]
  const main = ks.threads({ syscalls: false }).find((t) => t.tid === process.pid)
  assert.equal(letter, 'R')
  assert.equal(main.state, 'running')
})

test('a string channel gives back any characters, nulls apart from every string, and never reads past its end', () => {
  const strNull = layout.constant('strNull')
  const odd = ['', '\0', 'a\0b\n\0', '\x01', '@x@@', 'caf\u00e9\uFFFD', '\u{1F600}\0\u{1F600}']
  const lens = []
  for (const s of odd) lens.push(s.length, strNull)
  const r = layout.strings(odd.join(''), Int32Array.from(lens))
  for (const s of odd) {
    assert.equal(r.next(), s)
    assert.equal(r.next(), null)
  }
  assert.ok(r.done())
  assert.throws(() => r.next(), { code: 'ERR_KERNELSCOPE_INTERNAL' })
})
