// Type test (compiled by `npm run lint:types`: tsc --noEmit --strict, never run): every export of
// index.d.ts used the way the README shows, and misuse that must not compile marked with
// a ts-expect-error comment. Adding an export? Add a block here (the test in __test__/types.test.js
// fails when an export of index.js is not named in this file).
import * as ks from '../../index.js'
import {
  supported, unsupportedReason, sample, createSampler, Sampler, fdCount, threads, monitorLoop,
  LoopMonitor, socketState, write, watchBackpressure, fds, fdsSync, diffFds, fdSummary,
  prometheus, opentelemetry, explain, attribute, processInfo, middleware, sentinel
} from '../../index.js'
import type {
  Sample, ThreadInfo, ThreadRole, ThreadRoleSource, ThreadState, FdEntry, FdType, LoopStats, LoopIteration,
  SocketState, SocketStateName, FdSummary, ExplainReport, WaitKind, ProcessInfo, HttpMiddleware
} from '../../index.js'

/** Compiles only when `value` is exactly of type T (not merely assignable). */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false
function expectType<T> (_value: T): void {}
function exact<A, B> (_proof: Equal<A, B>): void {}

// the package as a whole
expectType<boolean>(supported)
expectType<string | null>(unsupportedReason)
expectType<typeof sample>(ks.sample)

// process: sample(), createSampler(), Sampler, fdCount()
const s: Sample = sample()
expectType<number>(s.pid)
exact<number | null, typeof s.memory.rssBytes>(true)
const sampler: Sampler = createSampler()
expectType<Sampler>(new Sampler())
expectType<Sample>(sampler.sample())
expectType<number | null>(sampler.delta().cpuPercent)
expectType<number>(fdCount())

// threads()
const ts: ThreadInfo[] = threads({ syscalls: false })
const role: ThreadRole = ts[0].role
const state: ThreadState = ts[0].state
expectType<string>(role)
expectType<string>(state)
const source: ThreadRoleSource = ts[0].roleSource
expectType<string>(source)
const first = ts[0]
exact<string | null, typeof first.syscallError>(true)
// @ts-expect-error syscalls is a boolean
threads({ syscalls: 1 })

// fds(), fdsSync(), diffFds(), fdSummary()
async function inventories (): Promise<void> {
  const list: FdEntry[] = await fds({ sockets: true, fdinfo: true })
  const again = fdsSync({ pid: 1 })
  const type: FdType = list[0].type
  expectType<FdType>(type)
  expectType<string | null>(list[0].target)
  const { opened, closed } = diffFds(list, again)
  expectType<FdEntry[]>(opened)
  expectType<FdEntry[]>(closed)
  const summary: FdSummary = fdSummary()
  expectType<number>(summary.byType.socket)
  // @ts-expect-error fds() is a Promise, not the list
  fds().length
}
void inventories

// monitorLoop(), LoopMonitor
const m: LoopMonitor = monitorLoop({ historySize: 64 })
expectType<LoopMonitor>(new LoopMonitor())
const stats: LoopStats = m.stats()
expectType<number>(stats.iterations)
const h: LoopIteration[] = m.history()
expectType<number | null>(h[0].timeoutMs)
expectType<number[]>(m.buckets([0.001, 0.01, 0.1]).wait.counts)
expectType<boolean>(m.closed)
m.reset()
m.close()
// @ts-expect-error closed is read-only
m.closed = true

// socketState(), write(), watchBackpressure()
declare const stream: {
  write(chunk: any, encoding?: any, callback?: (error?: Error | null) => void): boolean
  on(event: string, listener: (...args: any[]) => void): unknown
  removeListener(event: string, listener: (...args: any[]) => void): unknown
  readonly writableLength: number
}
const st: SocketState = socketState(3)
const stateName: SocketStateName | null = st.state
expectType<SocketStateName | null>(stateName)
expectType<SocketState>(socketState(stream))
expectType<Promise<void>>(write(stream, 'chunk'))
expectType<Promise<void>>(write(stream, new Uint8Array(4), 'utf8'))
expectType<number>(watchBackpressure(stream).stats().writesIgnoringBackpressure)
// @ts-expect-error a string is neither a socket nor an fd
socketState('3')

// exporters
const prom = prometheus({ prefix: 'app_' })
expectType<string[]>(prom.metrics)
prom.unregister()
prom.close()
declare const meter: Parameters<typeof opentelemetry>[0]['meter']
expectType<string[]>(opentelemetry({ meter }).instruments)
// @ts-expect-error opentelemetry() needs a meter
opentelemetry({})

// attribution
async function attribution (): Promise<void> {
  const r = await explain('load', async () => 42)
  exact<number | undefined, typeof r.value>(true)
  const report: ExplainReport = r.report
  const kind: WaitKind = report.breakdown[0].kind
  expectType<WaitKind>(kind)
  const n: number = attribute('sync', () => 1, { onReport: (rep) => expectType<ExplainReport>(rep) })
  expectType<number>(n)
}
void attribution

// another process: processInfo()
const info: ProcessInfo = processInfo(1)
expectType<number>(info.pid)
expectType<string[]>(info.cmdline)
// @ts-expect-error a pid is a number
processInfo('1')

// http middleware
const mw: HttpMiddleware = middleware()
expectType<HttpMiddleware>(mw)

// sentinel
const sn = sentinel()
expectType<ReturnType<typeof sentinel>>(sn)
