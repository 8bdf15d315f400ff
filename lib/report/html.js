'use strict'
// renderHtml(report): the report (docs/report.md) as one self-contained HTML page — inline CSS
// and inline SVG drawn here, no script, no font, no image, nothing fetched (a Content-Security-
// Policy of default-src 'none' says so to the browser). Every string from the report is escaped.

const KIND_COLORS = {
  'tcp-connect': '#d62728',
  dns: '#9467bd',
  fs: '#1f77b4',
  'threadpool-queue': '#ff7f0e',
  'socket-read': '#2ca02c',
  'socket-write': '#17becf',
  timer: '#bcbd22',
  'child-process': '#8c564b',
  'event-loop-blocked': '#e377c2',
  cpu: '#7f7f7f',
  unattributed: '#c7c7c7'
}
const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2',
  '#7f7f7f', '#bcbd22', '#17becf', '#aec7e8', '#ffbb78', '#98df8a', '#ff9896', '#c5b0d5', '#c49c94']
const STATE_COLORS = {
  running: '#2ca02c',
  sleeping: '#aec7e8',
  'disk-sleep': '#d62728',
  stopped: '#ff7f0e',
  'tracing-stop': '#ff7f0e',
  zombie: '#7f7f7f',
  dead: '#7f7f7f',
  idle: '#c7c7c7',
  parked: '#c7c7c7',
  waking: '#98df8a',
  wakekill: '#ff9896',
  unknown: '#000000'
}
const W = 760
const MAX_WATERFALLS = 30
const MAX_ROWS = 60

function esc (s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]))
    // Characters HTML cannot carry (C0 controls other than tab/newline, lone surrogates) are shown as escapes.
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g,
      (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

function num (v) { return typeof v === 'number' && Number.isFinite(v) }

function fmtMs (ms) {
  if (!num(ms)) return '—'
  if (ms >= 10000) return `${(ms / 1000).toFixed(1)} s`
  if (ms >= 100) return `${ms.toFixed(0)} ms`
  if (ms >= 1) return `${ms.toFixed(1)} ms`
  return `${ms.toFixed(3)} ms`
}

function fmtBound (ms) {
  if (ms >= 1000) return `${ms / 1000}s`
  if (ms >= 1) return `${ms}ms`
  return `${ms * 1000}µs`
}

function colorFor (map, key, i) {
  return map[key] || PALETTE[i % PALETTE.length]
}

function f1 (x) { return Math.round(x * 10) / 10 }

function niceMax (v) {
  if (!(v > 0)) return 1
  const p = 10 ** Math.floor(Math.log10(v))
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p
  return 10 * p
}

function svgOpen (plot, h, label) {
  return `<svg class="ks-plot" data-plot="${esc(plot)}" role="img" aria-label="${esc(label)}" width="${W}" height="${h}" viewBox="0 0 ${W} ${h}" xmlns="http://www.w3.org/2000/svg">`
}

function empty (plot, label, why) {
  return `${svgOpen(plot, 60, label)}<text x="10" y="35" class="muted">${esc(why)}</text></svg>`
}

function yAxis (x0, y0, h, max, unit) {
  let out = ''
  for (let i = 0; i <= 4; i++) {
    const y = y0 + h - (h * i) / 4
    out += `<line x1="${x0}" x2="${W - 10}" y1="${f1(y)}" y2="${f1(y)}" class="grid"/>`
    out += `<text x="${x0 - 4}" y="${f1(y + 4)}" text-anchor="end" class="tick">${esc(fmtNum((max * i) / 4))}${unit}</text>`
  }
  return out
}

function fmtNum (v) {
  if (v >= 1e6) return `${f1(v / 1e6)}M`
  if (v >= 1e3) return `${f1(v / 1e3)}k`
  return String(Math.round(v * 100) / 100)
}

function legend (entries, y) {
  let x = 60
  let out = ''
  for (const [name, color] of entries) {
    out += `<rect x="${x}" y="${y - 9}" width="10" height="10" fill="${color}"/><text x="${x + 14}" y="${y}" class="tick">${esc(name)}</text>`
    x += 24 + name.length * 6.5
  }
  return out
}

/** Loop wait histogram: iterations per epoll-wait bucket. */
function waitHistogram (loop) {
  const label = 'event-loop wait per iteration (histogram)'
  if (!loop || !loop.waitHistogram || loop.iterations === 0) return empty('loop-wait-histogram', label, 'no loop iterations recorded')
  const { boundsMs, counts } = loop.waitHistogram
  const h = 220
  const x0 = 60
  const y0 = 10
  const ph = 160
  const max = niceMax(Math.max(...counts))
  const bw = (W - x0 - 10) / counts.length
  let out = svgOpen('loop-wait-histogram', h, label) + yAxis(x0, y0, ph, max, '')
  counts.forEach((c, i) => {
    const bh = (ph * c) / max
    const lo = i === 0 ? 0 : boundsMs[i - 1]
    const name = i < boundsMs.length ? `${fmtBound(lo)}–${fmtBound(boundsMs[i])}` : `> ${fmtBound(boundsMs[boundsMs.length - 1])}`
    out += `<rect class="bar" x="${f1(x0 + i * bw + 2)}" y="${f1(y0 + ph - bh)}" width="${f1(bw - 4)}" height="${f1(bh)}" fill="#1f77b4"><title>${esc(name)}: ${c} iterations</title></rect>`
    out += `<text x="${f1(x0 + i * bw + bw / 2)}" y="${y0 + ph + 14}" text-anchor="middle" class="tick">${esc(i < boundsMs.length ? '≤' + fmtBound(boundsMs[i]) : '>' + fmtBound(boundsMs[boundsMs.length - 1]))}</text>`
  })
  out += `<text x="${x0}" y="${h - 8}" class="tick">iterations by time blocked in epoll_wait (n = ${loop.iterations}; p50 ${esc(fmtMs(loop.waitMs.p50Ms))}, p99 ${esc(fmtMs(loop.waitMs.p99Ms))}, max ${esc(fmtMs(loop.waitMs.maxMs))})</text>`
  return out + '</svg>'
}

/**
 * Stacked areas over time: series [{ name, color, values: number[] }] on the samples' times.
 */
function stackedOverTime (plot, label, times, series, unit) {
  if (times.length === 0 || series.length === 0) return empty(plot, label, 'no samples recorded')
  const h = 230
  const x0 = 60
  const y0 = 10
  const ph = 160
  const n = times.length
  const t0 = times[0]
  const span = Math.max(times[n - 1] - t0, 1)
  const totals = times.map((_, i) => series.reduce((s, se) => s + (se.values[i] || 0), 0))
  const max = niceMax(Math.max(...totals))
  const X = (t) => x0 + ((W - x0 - 10) * (n === 1 ? 0.5 : (t - t0) / span))
  const Y = (v) => y0 + ph - (ph * v) / max
  let out = svgOpen(plot, h, label) + yAxis(x0, y0, ph, max, unit)
  const base = new Array(n).fill(0)
  for (const se of series) {
    const top = base.map((b, i) => b + (se.values[i] || 0))
    let pts
    if (n === 1) {
      const xa = X(t0) - 20
      const xb = X(t0) + 20
      pts = [[xa, Y(top[0])], [xb, Y(top[0])], [xb, Y(base[0])], [xa, Y(base[0])]]
    } else {
      pts = times.map((t, i) => [X(t), Y(top[i])])
      for (let i = n - 1; i >= 0; i--) pts.push([X(times[i]), Y(base[i])])
    }
    const peak = Math.max(...se.values.map((v) => v || 0))
    out += `<polygon class="area" fill="${se.color}" fill-opacity="0.8" points="${pts.map(([x, y]) => `${f1(x)},${f1(y)}`).join(' ')}"><title>${esc(se.name)} (peak ${esc(fmtNum(peak))}${esc(unit)})</title></polygon>`
    for (let i = 0; i < n; i++) base[i] = top[i]
  }
  for (let i = 0; i <= 4; i++) {
    const t = (span * i) / 4
    out += `<text x="${f1(X(t0 + t))}" y="${y0 + ph + 14}" text-anchor="${i === 4 ? 'end' : 'middle'}" class="tick">${esc((t / 1000).toFixed(1))}s</text>`
  }
  out += legend(series.map((s) => [s.name, s.color]), h - 10)
  return out + '</svg>'
}

function seriesFromCounts (samples, pick, colors) {
  const keys = []
  for (const s of samples) {
    const c = pick(s)
    if (c) for (const k of Object.keys(c)) if (!keys.includes(k)) keys.push(k)
  }
  return keys.map((k, i) => ({ name: k, color: colorFor(colors, k, i), values: samples.map((s) => { const c = pick(s); return c && num(c[k]) ? c[k] : 0 }) }))
}

function loopOverTime (samples, intervalMs) {
  const withLoop = samples.filter((s) => s.loop)
  const label = 'event-loop wait and work per interval'
  return stackedOverTime('loop-over-time', label, withLoop.map((s) => s.atMs), [
    { name: 'work (busy)', color: '#d62728', values: withLoop.map((s) => Math.max(0, s.loop.workMs)) },
    { name: 'wait (epoll_wait)', color: '#aec7e8', values: withLoop.map((s) => Math.max(0, s.loop.waitMs)) }
  ], 'ms')
}

function fdsOverTime (samples) {
  const withFds = samples.filter((s) => s.fds)
  return stackedOverTime('fds-over-time', 'descriptors by type over time', withFds.map((s) => s.atMs),
    seriesFromCounts(withFds, (s) => s.fds.byType, {}), '')
}

function threadsOverTime (samples) {
  const withThreads = samples.filter((s) => s.threads)
  return stackedOverTime('threads-over-time', 'threads by state over time', withThreads.map((s) => s.atMs),
    seriesFromCounts(withThreads, (s) => s.threads.byState, STATE_COLORS), '')
}

/** Where a waterfall's time 0 is: the operation's start when requests are on the process clock. */
function originOf (op) {
  const starts = (op.report.requests || []).map((r) => r.startMs).filter(num)
  if (starts.length === 0) return op.startMs
  const min = Math.min(...starts)
  return min >= op.startMs - 1000 ? op.startMs : 0
}

/** One explained operation: its breakdown as one bar, then each request with queue and execution. */
function waterfall (op, index) {
  const r = op.report
  const reqs = (r.requests || []).filter((q) => num(q.startMs))
  const shown = reqs.slice().sort((a, b) => a.startMs - b.startMs).slice(0, MAX_ROWS)
  const origin = originOf(op)
  let span = num(r.wallMs) ? r.wallMs : 0
  for (const q of shown) {
    const end = num(q.endMs) ? q.endMs : q.startMs + (q.queueMs || 0) + (q.execMs || 0)
    span = Math.max(span, end - origin)
  }
  span = Math.max(span, 0.001)
  const lx = 230
  const rowH = 16
  const top = 34
  const h = top + shown.length * rowH + 40
  const X = (ms) => lx + ((W - lx - 10) * Math.max(0, ms)) / span
  let out = svgOpen('waterfall', h, `waterfall of ${r.name}`).replace('<svg ', `<svg data-operation="${index}" `)
  // The breakdown: where the wall time went, one segment per kind and target.
  let x = 0
  out += `<text x="4" y="20" class="tick">breakdown (${esc(fmtMs(r.wallMs))})</text>`
  for (const b of r.breakdown || []) {
    if (!num(b.ms) || b.ms <= 0) continue
    const w = ((W - lx - 10) * b.ms) / Math.max(span, r.wallMs || 0)
    out += `<rect class="seg" x="${f1(lx + x)}" y="8" width="${f1(Math.max(w, 0.5))}" height="16" fill="${colorFor(KIND_COLORS, b.kind, 0)}"><title>${esc(b.kind)} ${esc(b.target ?? '')}: ${esc(fmtMs(b.ms))}${b.evidence ? ' ' + esc(JSON.stringify(b.evidence)) : ''}</title></rect>`
    x += w
  }
  shown.forEach((q, i) => {
    const y = top + i * rowH
    const color = colorFor(KIND_COLORS, q.kind, 0)
    const start = q.startMs - origin
    const queue = num(q.queueMs) ? q.queueMs : 0
    const end = num(q.endMs) ? q.endMs - origin : start + queue + (num(q.execMs) ? q.execMs : 0)
    const exec = num(q.execMs) ? q.execMs : Math.max(0, end - start - queue)
    const name = `${q.kind} ${q.target ?? ''}`
    const short = name.length > 36 ? name.slice(0, 35) + '…' : name
    const tip = `${name}: start ${fmtMs(start)}, queued ${fmtMs(queue)}, executing ${fmtMs(exec)}, end ${fmtMs(end)}${q.evidence ? ' ' + JSON.stringify(q.evidence) : ''}`
    out += `<text x="4" y="${y + 12}" class="tick">${esc(short)}</text>`
    if (queue > 0) out += `<rect class="queue" x="${f1(X(start))}" y="${y + 3}" width="${f1(Math.max(X(start + queue) - X(start), 0.5))}" height="10" fill="${color}" fill-opacity="0.3"><title>${esc(tip)}</title></rect>`
    out += `<rect class="exec" x="${f1(X(start + queue))}" y="${y + 2}" width="${f1(Math.max(X(start + queue + exec) - X(start + queue), 1))}" height="12" fill="${color}"><title>${esc(tip)}</title></rect>`
  })
  const axisY = top + shown.length * rowH + 14
  for (let i = 0; i <= 4; i++) {
    out += `<text x="${f1(X((span * i) / 4))}" y="${axisY}" text-anchor="${i === 0 ? 'start' : i === 4 ? 'end' : 'middle'}" class="tick">${esc(fmtMs((span * i) / 4))}</text>`
  }
  const more = reqs.length > shown.length ? ` (first ${shown.length} of ${reqs.length} requests)` : ''
  out += `<text x="4" y="${axisY + 18}" class="tick">pale: queued, solid: executing${esc(more)}</text>`
  return out + '</svg>'
}

function breakdownText (r) {
  return (r.breakdown || []).filter((b) => num(b.ms) && b.kind !== 'unattributed').sort((a, b) => b.ms - a.ms).slice(0, 3)
    .map((b) => `${esc(fmtMs(b.ms))} <span class="kind" style="border-color:${colorFor(KIND_COLORS, b.kind, 0)}">${esc(b.kind)}</span> ${esc(b.target ?? '')}${b.evidence && Object.keys(b.evidence).length ? ` <code>${esc(JSON.stringify(b.evidence))}</code>` : ''}`)
    .join('<br>') || '<span class="muted">nothing attributed</span>'
}

function slowestTable (ops) {
  if (ops.length === 0) return '<p class="muted" data-table="slowest">no explained operations recorded (ks.explain / ks.attribute, or the middleware)</p>'
  const rows = ops.map((op, i) => `<tr><td>${i + 1}</td><td><a href="#op-${op.pidIndex}-${i}">${esc(op.report.name)}</a></td><td class="num">${esc(fmtMs(op.report.wallMs))}</td><td>${esc(op.report.outcome)}</td><td>${breakdownText(op.report)}</td></tr>`)
  return `<table data-table="slowest"><thead><tr><th>#</th><th>operation</th><th>wall</th><th>outcome</th><th>waited on</th></tr></thead><tbody>${rows.join('')}</tbody></table>`
}

function byNameTable (byName) {
  if (!byName || byName.length === 0) return ''
  const rows = byName.slice(0, 50).map((a) => `<tr><td>${esc(a.name)}</td><td class="num">${a.count}</td><td class="num">${a.errors}</td><td class="num">${esc(fmtMs(a.totalMs / a.count))}</td><td class="num">${esc(fmtMs(a.maxMs))}</td></tr>`)
  return `<table data-table="by-name"><thead><tr><th>operation</th><th>count</th><th>errors</th><th>mean</th><th>max</th></tr></thead><tbody>${rows.join('')}</tbody></table>`
}

function processSection (p, pi, report) {
  const samples = p.samples.list
  const ops = p.operations.kept.map((op) => ({ ...op, pidIndex: pi }))
  const loop = p.loop
  const end = p.end.reason === 'signal' ? `killed by ${p.end.signal}` : p.end.reason === 'exit' ? `exit code ${p.end.exitCode}` : 'still running'
  const notes = []
  if (p.samples.dropped > 0) notes.push(`The oldest ${p.samples.dropped} samples were dropped (ring buffer of ${p.samples.max}).`)
  if (p.operations.seen > ops.length) notes.push(`${p.operations.seen} operations explained; the slowest ${ops.length} are kept (cap ${p.operations.max}).`)
  for (const e of p.errors) notes.push(`${e.what}: ${e.message}`)
  const waterfalls = ops.slice(0, MAX_WATERFALLS).map((op, i) =>
    `<div class="op" id="op-${pi}-${i}"><h4>${esc(op.report.name)} — ${esc(fmtMs(op.report.wallMs))} (${esc(op.report.outcome)})</h4>${waterfall(op, i)}</div>`).join('')
  return `<section class="process" data-pid="${p.pid}">
<h2>pid ${p.pid}: ${esc(p.argv.join(' '))}</h2>
<p>Node ${esc(p.nodeVersion)} · ppid ${p.ppid} · ran ${esc(fmtMs(p.durationMs))} · ${esc(end)} · UV_THREADPOOL_SIZE ${p.threadpoolSize}${loop ? ` · loop utilization ${num(loop.utilization) ? (loop.utilization * 100).toFixed(1) + '%' : '—'}, ${loop.iterations} iterations, max turn ${esc(fmtMs(loop.iterationMs.maxMs))}` : ''}</p>
${notes.length ? `<ul class="notes">${notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>` : ''}
<h3>Slowest operations</h3>
${slowestTable(ops)}
${byNameTable(p.operations.byName)}
<h3>Event loop: time blocked in epoll_wait</h3>
${waitHistogram(loop)}
<h3>Event loop: wait and work over time (every ${p.samples.intervalMs} ms)</h3>
${loopOverTime(samples, p.samples.intervalMs)}
<h3>Descriptors by type</h3>
${fdsOverTime(samples)}
<h3>Threads by state</h3>
${threadsOverTime(samples)}
<h3>Waterfalls${ops.length > MAX_WATERFALLS ? ` (the ${MAX_WATERFALLS} slowest of ${ops.length} kept)` : ''}</h3>
${waterfalls || '<p class="muted">no explained operations</p>'}
</section>`
}

const CSS = `body{font:14px/1.4 system-ui,sans-serif;margin:20px auto;max-width:${W + 40}px;color:#222}
h1{font-size:20px}h2{font-size:17px;border-top:2px solid #ddd;padding-top:12px;word-break:break-all}h3{font-size:15px;margin:18px 0 6px}h4{font-size:13px;margin:10px 0 2px}
svg{display:block;background:#fafafa;border:1px solid #eee;margin:4px 0}
.tick{font-size:10px;fill:#555}.muted{color:#888;fill:#888}.grid{stroke:#e4e4e4}
table{border-collapse:collapse;width:100%;font-size:12px;margin:6px 0}td,th{border-bottom:1px solid #eee;padding:3px 5px;text-align:left;vertical-align:top}
td.num{text-align:right;white-space:nowrap}.kind{border-left:8px solid;padding-left:3px}code{font-size:11px;color:#555}.notes{color:#a60}`

/** The whole report as one HTML document (a string). */
function renderHtml (report) {
  const cmd = report.command ? report.command.join(' ') : '(in-process snapshot)'
  const exit = report.exit ? (report.exit.signal ? `killed by ${report.exit.signal}` : `exit code ${report.exit.code}`) : ''
  const notes = (report.notes || []).map((n) => `<li>${esc(n)}</li>`).join('')
  const kinds = Object.entries(KIND_COLORS).map(([k, c]) => `<span class="kind" style="border-color:${c}">${esc(k)}</span>`).join(' ')
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="generator" content="kernelscope ${esc(report.tool.version)} report v${report.version}">
<title>kernelscope report: ${esc(cmd)}</title>
<style>${CSS}</style></head>
<body>
<h1>kernelscope: ${esc(cmd)}</h1>
<p>${esc(report.createdAt)} · ${esc(exit)} · ${report.processes.length} Node.js process${report.processes.length === 1 ? '' : 'es'} · sampled every ${report.limits.intervalMs} ms, at most ${report.limits.maxSamples} samples and the ${report.limits.maxOperations} slowest operations kept per process</p>
${notes ? `<ul class="notes">${notes}</ul>` : ''}
<p>kinds: ${kinds}</p>
${report.processes.map((p, i) => processSection(p, i, report)).join('\n')}
</body></html>
`
}

module.exports = { renderHtml, esc, KIND_COLORS }
