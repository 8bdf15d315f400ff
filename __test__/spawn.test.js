'use strict'
// kernelscope's own threads (src/spawn.rs): started on use, never on require, named, and there
// in a child process too. (child_process.fork starts a new Node process; the fork(2) case —
// statics copied, threads not — is a Rust test in src/spawn.rs.)

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { fork } = require('node:child_process')

function threadNames (pid) {
  const names = []
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      names.push(fs.readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim())
    } catch {} // the thread ended between the readdir and the read
  }
  return names
}

test('requiring kernelscope starts no thread of its own', () => {
  const before = threadNames(process.pid)
  require('..')
  const after = threadNames(process.pid)
  assert.deepEqual(after.filter((n) => n.startsWith('kernelscope-')),
    before.filter((n) => n.startsWith('kernelscope-')))
})

test('fds() in a child started with child_process.fork settles, on the child\'s own named threads', { timeout: 60000 }, async () => {
  const child = fork(path.join(__dirname, 'fixtures', 'fds-child.js'), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  const msg = await new Promise((resolve, reject) => {
    child.once('message', resolve)
    child.once('error', reject)
    child.once('exit', (code, signal) => reject(new Error(`child exited (${code}, ${signal}) without a report`)))
  })
  child.disconnect()
  assert.deepEqual(await exited, { code: 0, signal: null })
  assert.equal(msg.error, undefined, msg.error)
  // every descriptor the child opened is in both inventories, each exactly once
  for (const list of [msg.promiseFds, msg.syncFds]) {
    assert.equal(new Set(list).size, list.length, 'no descriptor twice')
    const have = new Set(list)
    const missing = msg.opened.filter((fd) => !have.has(fd))
    assert.deepEqual(missing, [], 'every opened fd is listed')
    // and nothing the kernel did not list (the readdir ran after the scans, the table was still)
    const listed = new Set(msg.listed)
    assert.deepEqual(list.filter((fd) => !listed.has(fd)), [])
  }
  assert.ok(msg.threads.includes('kernelscope-fds'), `threads: ${msg.threads}`)
  assert.ok(msg.threads.includes('kernelscope-fdh'), `threads: ${msg.threads}`)
})
