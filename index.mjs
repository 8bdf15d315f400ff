// ESM entry: the same module as require('kernelscope').
import { createRequire } from 'node:module'

const ks = createRequire(import.meta.url)('./index.js')

export const {
  supported,
  unsupportedReason,
  sample,
  createSampler,
  Sampler,
  fdCount,
  processInfo,
  threads,
  monitorLoop,
  LoopMonitor,
  socketState,
  write,
  watchBackpressure,
  fds,
  fdsSync,
  diffFds,
  fdSummary,
  prometheus,
  opentelemetry,
  explain,
  attribute,
  middleware,
  sentinel
} = ks
export default ks
