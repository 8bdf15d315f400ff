'use strict'
// Renders a local HTML file in headless Chromium through the DevTools protocol over
// --remote-debugging-pipe (no dependency): collects console errors, exceptions, log errors and
// every network request, evaluates an expression in the page and takes a PNG screenshot.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn, spawnSync } = require('node:child_process')

function chromiumPath () {
  for (const p of ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome']) {
    if (fs.existsSync(p)) return p
  }
  const r = spawnSync('sh', ['-c', 'command -v chromium || command -v chromium-browser'], { encoding: 'utf8' })
  return r.status === 0 ? r.stdout.trim() : null
}

/**
 * Opens file in a fresh headless Chromium; resolves with { png (Buffer), value (the evaluated
 * expression's JSON value), consoleErrors, requests } once the browser has exited.
 */
async function render (file, expression, { timeoutMs = 60000 } = {}) {
  const exe = chromiumPath()
  if (exe === null) throw new Error('chromium not found')
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'kernelscope-chromium-'))
  const child = spawn(exe, [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run', '--no-default-browser-check',
    '--disable-extensions', '--disable-dev-shm-usage', `--user-data-dir=${profile}`,
    '--remote-debugging-pipe', 'about:blank'
  ], { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] })
  const closed = new Promise((resolve) => child.once('close', resolve))
  let stderr = ''
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (d) => { if (stderr.length < 20000) stderr += d })
  const toBrowser = child.stdio[3]
  const fromBrowser = child.stdio[4]
  let nextId = 1
  const pending = new Map()
  const listeners = []
  let buf = Buffer.alloc(0)
  fromBrowser.on('data', (chunk) => {
    buf = Buffer.concat([buf, chunk])
    let z
    while ((z = buf.indexOf(0)) >= 0) {
      const msg = JSON.parse(buf.subarray(0, z).toString('utf8'))
      buf = buf.subarray(z + 1)
      if (msg.id !== undefined && pending.has(msg.id)) {
        const { resolve, reject } = pending.get(msg.id)
        pending.delete(msg.id)
        if (msg.error) reject(new Error(`${msg.error.message} (${msg.error.code})`))
        else resolve(msg.result)
      } else if (msg.method) {
        for (const l of listeners) l(msg)
      }
    }
  })
  toBrowser.on('error', () => {})
  const send = (method, params = {}, sessionId) => new Promise((resolve, reject) => {
    const id = nextId++
    pending.set(id, { resolve, reject })
    toBrowser.write(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }) + '\0')
  })
  const consoleErrors = []
  const requests = []
  let loaded
  const loadedP = new Promise((resolve) => { loaded = resolve })
  listeners.push((msg) => {
    const p = msg.params
    if (msg.method === 'Runtime.consoleAPICalled' && (p.type === 'error' || p.type === 'warning')) {
      consoleErrors.push(p.args.map((a) => a.value ?? a.description).join(' '))
    } else if (msg.method === 'Runtime.exceptionThrown') {
      consoleErrors.push(p.exceptionDetails.text + ' ' + (p.exceptionDetails.exception?.description ?? ''))
    } else if (msg.method === 'Log.entryAdded' && (p.entry.level === 'error' || p.entry.level === 'warning')) {
      consoleErrors.push(`${p.entry.source}: ${p.entry.text}`)
    } else if (msg.method === 'Network.requestWillBeSent') {
      requests.push(p.request.url)
    } else if (msg.method === 'Page.loadEventFired') {
      loaded()
    }
  })
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  try {
    const { targetInfos } = await send('Target.getTargets')
    const page = targetInfos.find((t) => t.type === 'page')
    if (!page) throw new Error('no page target')
    const { sessionId } = await send('Target.attachToTarget', { targetId: page.targetId, flatten: true })
    for (const d of ['Runtime.enable', 'Log.enable', 'Network.enable', 'Page.enable']) await send(d, {}, sessionId)
    await send('Emulation.setDeviceMetricsOverride', { width: 860, height: 1200, deviceScaleFactor: 1, mobile: false }, sessionId)
    await send('Page.navigate', { url: 'file://' + path.resolve(file) }, sessionId)
    await loadedP
    const ev = await send('Runtime.evaluate', { expression, returnByValue: true }, sessionId)
    if (ev.exceptionDetails) throw new Error('evaluate: ' + ev.exceptionDetails.text)
    const shot = await send('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true }, sessionId)
    await send('Browser.close').catch(() => {})
    await closed
    return { png: Buffer.from(shot.data, 'base64'), value: ev.result.value, consoleErrors, requests }
  } catch (err) {
    child.kill('SIGKILL')
    await closed
    err.message += `\nchromium stderr: ${stderr.slice(-2000)}`
    throw err
  } finally {
    clearTimeout(timer)
    fs.rmSync(profile, { recursive: true, force: true })
  }
}

module.exports = { render, chromiumPath }
