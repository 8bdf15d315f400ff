'use strict'
// The demo's text output, at most 100 columns: one block per check (its wall time and the wait
// that dominated it, then the other waits that mattered), the loop's wait histogram, the thread
// table and the descriptor summary from the snapshot taken while the checks waited.

const WIDTH = 100
const EVIDENCE_LINES = 2 // the text table clips evidence; --json has all of it
const COL = { name: 18, wall: 7, kind: 18, ms: 6 }
const TARGET_AT = COL.name + 1 + COL.wall + 2 + COL.kind + 1 + COL.ms + 2
const EVIDENCE_AT = COL.name + 1 + COL.wall + 4

function fmtMs (ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '-'
  return ms >= 100 ? ms.toFixed(0) : ms.toFixed(1)
}

function clip (s, n) {
  s = String(s)
  if (s.length <= n) return s
  if (n <= 1) return s.slice(0, n)
  return s.slice(0, n - 1) + '…'
}

/** Shortens the demo's temporary directory to $DIR in targets and evidence. */
function shortener (dir) {
  if (!dir) return (s) => s
  return (s) => typeof s === 'string' ? s.split(dir).join('$DIR') : s
}

function fmtValue (v, short) {
  if (v === null || v === undefined) return 'null'
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : fmtMs(v)
  if (typeof v === 'string') return short(v)
  if (Array.isArray(v)) return v.map((x) => fmtValue(x, short)).join(', ')
  if (typeof v === 'object') {
    // { by: 'check:x', ms: 261 } -> 'check:x 261 ms'; nulls inside are left out
    return Object.entries(v).filter(([, x]) => x !== null && x !== undefined).map(([k, x]) => {
      if (k === 'ms') return `${fmtValue(x, short)} ms`
      if (k === 'by' || k === 'name' || k === 'target' || k === 'address') return fmtValue(x, short)
      return `${k} ${fmtValue(x, short)}`
    }).join(' ')
  }
  return String(v)
}

function fmtEvidence (evidence, short) {
  if (!evidence || typeof evidence !== 'object') return ''
  return Object.entries(evidence)
    .filter(([, v]) => v !== null && v !== undefined && !(Array.isArray(v) && v.length === 0))
    .map(([k, v]) => `${k}: ${fmtValue(v, short)}`)
    .join('; ')
}

/** The breakdown entry with the most ms (the wait that dominated), or null. */
function dominant (report) {
  let best = null
  for (const e of (report && report.breakdown) || []) if (best === null || e.ms > best.ms) best = e
  return best
}

/** The entries worth a line of their own besides the dominant one. */
function notable (report, dom) {
  const min = Math.max(20, 0.1 * report.wallMs)
  return report.breakdown.filter((e) => e !== dom && e.ms >= min).sort((a, b) => b.ms - a.ms)
}

function entryLines (lead, entry, short) {
  const target = entry.target == null ? '-' : short(String(entry.target))
  const ev = fmtEvidence(entry.evidence, short)
  const head = lead + entry.kind.padEnd(COL.kind) + ' ' + fmtMs(entry.ms).padStart(COL.ms) + '  '
  const room = WIDTH - TARGET_AT
  const lines = []
  if (ev && target.length + 2 + ev.length <= room) {
    lines.push(head + target + '  ' + ev)
    return lines
  }
  lines.push(head + clip(target, room))
  if (!ev) return lines
  // evidence goes under the kind column, wrapped on word boundaries, at most EVIDENCE_LINES
  const evRoom = WIDTH - EVIDENCE_AT
  let line = ''
  const evLines = []
  for (const word of ev.split(' ')) {
    if (line && line.length + 1 + word.length > evRoom) { evLines.push(line); line = '' }
    line = line ? line + ' ' + word : clip(word, evRoom)
  }
  if (line) evLines.push(line)
  if (evLines.length > EVIDENCE_LINES) {
    evLines.length = EVIDENCE_LINES
    evLines[EVIDENCE_LINES - 1] = clip(evLines[EVIDENCE_LINES - 1] + ' …', evRoom)
  }
  for (const l of evLines) lines.push(' '.repeat(EVIDENCE_AT) + l)
  return lines
}

function checksTable (result) {
  const short = shortener(result.services && result.services.dir)
  const out = []
  out.push('check'.padEnd(COL.name) + ' ' + 'wall ms'.padStart(COL.wall) + '  ' + 'waited on'.padEnd(COL.kind) + ' ' +
    'ms'.padStart(COL.ms) + '  target, evidence')
  out.push('-'.repeat(WIDTH))
  for (const c of result.checks) {
    const r = c.report
    const dom = dominant(r)
    const lead = clip(c.name, COL.name).padEnd(COL.name) + ' ' + fmtMs(r.wallMs).padStart(COL.wall) + '  '
    if (dom === null) {
      out.push(lead + '(no breakdown)')
    } else {
      out.push(...entryLines(lead, dom, short))
      for (const e of notable(r, dom)) out.push(...entryLines(' '.repeat(COL.name + 1 + COL.wall) + '+ ', { ...e, kind: clip(e.kind, COL.kind - 2) }, short))
    }
    if (r.outcome !== 'ok' && c.error) out.push(' '.repeat(TARGET_AT) + clip(`error: ${c.error.code || ''} ${c.error.message}`, WIDTH - TARGET_AT))
  }
  return out
}

const BUCKETS = [[0, 0.1], [0.1, 1], [1, 10], [10, 100], [100, 1000], [1000, Infinity]]

function bucketLabel ([lo, hi]) {
  if (hi === Infinity) return `>= ${lo} ms`
  return `${lo}-${hi} ms`
}

function loopLines (loop) {
  const s = loop.stats
  const out = []
  const total = s.idleMs + s.busyMs
  out.push(...wrap(`event loop while the checks ran: ${s.iterations} iterations, waited in epoll_wait ${fmtMs(s.idleMs)} ms` +
    (total > 0 ? ` (${(100 * s.idleMs / total).toFixed(0)}%)` : '') + `, busy ${fmtMs(s.busyMs)} ms; ` +
    `longest turn ${fmtMs(s.iterationMs.maxMs)} ms`))
  const w = s.waitMs
  out.push(`wait per iteration: p50 ${fmtMs(w.p50Ms)} ms, p90 ${fmtMs(w.p90Ms)} ms, p99 ${fmtMs(w.p99Ms)} ms, max ${fmtMs(w.maxMs)} ms`)
  const counts = BUCKETS.map(() => 0)
  for (const it of loop.history) {
    const i = BUCKETS.findIndex(([lo, hi]) => it.waitMs >= lo && it.waitMs < hi)
    if (i >= 0) counts[i]++
  }
  const max = Math.max(1, ...counts)
  const barRoom = 50
  for (let i = 0; i < BUCKETS.length; i++) {
    const bar = '#'.repeat(Math.round(counts[i] / max * barRoom)) || (counts[i] > 0 ? '#' : '')
    out.push(`  ${bucketLabel(BUCKETS[i]).padStart(12)}  ${String(counts[i]).padStart(5)}  ${bar}`)
  }
  if (loop.history.length < s.iterations) out.push(`  (histogram of the last ${loop.history.length} iterations)`)
  return out
}

function threadLines (snapshot, short) {
  const rows = snapshot.threads
  const cols = [['tid', 7], ['role', 22], ['state', 9], ['syscall', 12], ['wchan', 17]]
  const targetRoom = WIDTH - cols.reduce((n, [, w]) => n + w + 1, 0)
  const out = []
  out.push(cols.map(([h, w]) => h.padEnd(w)).join(' ') + ' target')
  for (const t of rows) {
    const cells = [String(t.tid), t.role || '', t.state || '', t.syscall || '', t.wchan || '']
    out.push(cells.map((v, i) => clip(v, cols[i][1]).padEnd(cols[i][1])).join(' ') + ' ' + clip(short(t.target || ''), targetRoom))
  }
  return out.map((l) => l.trimEnd())
}

function fdLines (fds) {
  const types = Object.entries(fds.byType).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ')
  const socks = Object.entries(fds.sockets).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ')
  const out = wrap(`descriptors: ${fds.total} open: ${types}`)
  if (socks) out.push(...wrap(`sockets: ${socks}`))
  return out
}

function wrap (text, indent = '  ') {
  const out = []
  let line = ''
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > WIDTH) { out.push(line); line = indent + word } else line = line ? line + ' ' + word : word
  }
  if (line) out.push(line)
  return out
}

function render (result) {
  const short = shortener(result.services && result.services.dir)
  const s = result.services
  const out = []
  out.push(...wrap(`kernelscope demo: a monitoring bot ran ${result.checks.length} checks at once (Node ${result.node}, ` +
    `pid ${result.pid}, UV_THREADPOOL_SIZE=${result.threadpoolSize})`))
  out.push(...wrap(`services: listener ${s.listener.address} (accept queue full), http ${s.upstream.address} (answers after ?ms=N), ` +
    `peer ${s.peer.address} (stops reading for ${s.peer.resumeAfterMs} ms), ${s.fifos.length} FIFOs in $DIR=${s.dir} ` +
    `(writers at ${s.fifos.map((f) => f.writeAfterMs).join('/')} ms), a ${s.hog.ms} ms busy loop at ${s.hog.afterMs} ms`))
  out.push('')
  out.push(...checksTable(result))
  out.push('')
  out.push(...loopLines(result.loop))
  out.push('')
  out.push(`threads at ${fmtMs(result.snapshot.atMs)} ms, while the checks waited:`)
  out.push(...threadLines(result.snapshot, short))
  out.push('')
  out.push(...fdLines(result.snapshot.fds))
  return out.join('\n') + '\n'
}

module.exports = { render, dominant }
