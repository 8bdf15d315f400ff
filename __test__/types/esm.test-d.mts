// Type test of the ESM entry (index.d.mts): named and default imports get the same types as
// require() does.
import ks, { sample, fds, LoopMonitor } from '../../index.mjs'
import type { Sample, FdEntry } from '../../index.mjs'

const s: Sample = sample()
const viaDefault: Sample = ks.sample()
const later: Promise<FdEntry[]> = fds()
const m: LoopMonitor = new LoopMonitor()
void [s, viaDefault, later, m]
