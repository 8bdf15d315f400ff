'use strict'
// The one list of kernelscope's metrics: name, type, unit, help and kernel source, with the
// Prometheus name and the OpenTelemetry name side by side, and how each value is read from a
// snapshot (lib/metrics/snapshot.js). Both exporters and docs/metrics.md follow this list.
//
// A point is { dims, value }: `dims` are generic dimensions, renamed per exporter by `prom.labels`
// and `otel.attributes` ({ dim: name }) and, for OpenTelemetry, `otel.values` ({ dim: { v: v' } }).

const DEFAULT_BUCKETS = Object.freeze([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
  0.25, 0.5, 1, 2.5, 5, 10])

const loopHistogram = (which, what) => ({
  id: `eventloop.${which}`,
  type: 'histogram',
  unit: 's',
  help: `Event-loop ${what}, per iteration, seconds (kernelscope LoopMonitor histogram)`,
  source: 'libuv prepare/check hooks: uv_metrics_idle_time() and the clock (src/loop_monitor.rs)',
  needs: 'loop',
  prom: { name: `eventloop_${which}_seconds` },
  // OpenTelemetry has no asynchronous histogram: the total time, as a counter
  otel: which === 'iteration'
    ? null
    : { name: `kernelscope.eventloop.${which}.duration`, instrument: 'counter', unit: 's', note: 'sum of the histogram' },
  histogram: (snap) => snap.loop[which]
})

const dirs = (send, recv) => [{ dims: { direction: 'send' }, value: send }, { dims: { direction: 'receive' }, value: recv }]

const METRICS = [
  loopHistogram('wait', 'time blocked in epoll_wait waiting for events'),
  loopHistogram('poll', 'poll phase (wait plus I/O callbacks)'),
  loopHistogram('iteration', 'whole turn (prepare to next prepare: timers, callbacks, JavaScript)'),
  {
    id: 'eventloop.wakeups',
    type: 'counter',
    unit: '{wakeup}',
    help: 'What ended each poll of the event loop: io (events arrived), timeout (a timer was due), immediate (the poll did not block)',
    source: 'epoll event count and wait time per iteration (src/loop_monitor.rs)',
    needs: 'loop',
    prom: { name: 'eventloop_wakeups_total', labels: { reason: 'reason' } },
    otel: { name: 'kernelscope.eventloop.wakeups', instrument: 'counter', unit: '{wakeup}', attributes: { reason: 'kernelscope.eventloop.wakeup.reason' } },
    values: (snap) => ['io', 'timeout', 'immediate'].map((r) => ({ dims: { reason: r }, value: snap.loop.wakeups[r] }))
  },
  {
    id: 'eventloop.utilization',
    type: 'gauge',
    unit: '1',
    help: 'Share of time the event loop was not blocked in epoll_wait since the previous scrape (0..1)',
    source: 'busy and idle time of the LoopMonitor between two scrapes',
    needs: 'loop',
    prom: { name: 'eventloop_utilization_ratio' },
    otel: null, // nodejs.eventloop.utilization belongs to @opentelemetry/instrumentation-runtime-node
    values: (snap) => snap.loop.utilization === null ? [] : [{ dims: {}, value: snap.loop.utilization }]
  },
  {
    id: 'fd.count',
    type: 'gauge',
    unit: '{file_descriptor}',
    help: 'Open file descriptors of the process',
    source: 'getdents64 of /proc/self/fd (native)',
    needs: 'fds',
    prom: null, // the sum of kernelscope_file_descriptors over type
    otel: { name: 'process.unix.file_descriptor.count', instrument: 'updowncounter', unit: '{file_descriptor}', semconv: true },
    values: (snap) => [{ dims: {}, value: snap.fds.count }]
  },
  {
    id: 'fd.by_type',
    type: 'gauge',
    unit: '{file_descriptor}',
    help: 'Open file descriptors by type (file, socket, pipe, epoll, eventfd, ...)',
    source: 'fstat of each /proc/self/fd entry, readlink only for anonymous inodes (src/fd_summary.rs)',
    needs: 'fds',
    prom: { name: 'file_descriptors', labels: { type: 'type' } },
    otel: { name: 'kernelscope.file_descriptor.count', instrument: 'updowncounter', unit: '{file_descriptor}', attributes: { type: 'kernelscope.file_descriptor.type' } },
    values: (snap) => Object.keys(snap.fds.byType).map((t) => ({ dims: { type: t }, value: snap.fds.byType[t] }))
  },
  {
    id: 'fd.limit',
    type: 'gauge',
    unit: '{file_descriptor}',
    help: 'RLIMIT_NOFILE: the soft and hard limit on open descriptors (+Inf when unlimited)',
    source: 'getrlimit(RLIMIT_NOFILE)',
    needs: 'sample',
    prom: { name: 'file_descriptor_limit', labels: { kind: 'kind' } },
    otel: { name: 'kernelscope.file_descriptor.limit', instrument: 'gauge', unit: '{file_descriptor}', attributes: { kind: 'kernelscope.limit.kind' } },
    values: (snap) => [
      { dims: { kind: 'soft' }, value: snap.sample.fdLimits.soft },
      { dims: { kind: 'hard' }, value: snap.sample.fdLimits.hard }
    ].filter((p) => p.value !== null)
  },
  {
    id: 'thread.count',
    type: 'gauge',
    unit: '{thread}',
    help: 'Threads of the process',
    source: '/proc/self/stat num_threads',
    needs: 'sample',
    prom: null, // the sum of kernelscope_threads over state and role
    otel: { name: 'process.thread.count', instrument: 'updowncounter', unit: '{thread}', semconv: true },
    values: (snap) => snap.sample.threads === null ? [] : [{ dims: {}, value: snap.sample.threads }]
  },
  {
    id: 'thread.by_state_role',
    type: 'gauge',
    unit: '{thread}',
    help: 'Threads by scheduler state (running, sleeping, disk-sleep, ...) and Node role (main, libuv-worker, v8-worker, ...)',
    source: '/proc/self/task/<tid>/stat (state, comm) and kernelscope role inference',
    needs: 'threads',
    prom: { name: 'threads', labels: { state: 'state', role: 'role' } },
    otel: { name: 'kernelscope.thread.count', instrument: 'updowncounter', unit: '{thread}', attributes: { state: 'kernelscope.thread.state', role: 'kernelscope.thread.role' } },
    values: (snap) => snap.threads
  },
  {
    id: 'io.syscalls',
    type: 'counter',
    unit: '{syscall}',
    help: 'read-family and write-family system calls made by all threads (read, pread64, readv, recvmsg, ... / write, sendmsg, ...)',
    source: '/proc/self/io syscr and syscw',
    needs: 'sample',
    prom: null, // two families below, as Prometheus users name counters by what they count
    otel: { name: 'kernelscope.io.syscalls', instrument: 'counter', unit: '{syscall}', attributes: { direction: 'kernelscope.io.direction' } },
    values: (snap) => [
      { dims: { direction: 'read' }, value: snap.sample.io.readCalls },
      { dims: { direction: 'write' }, value: snap.sample.io.writeCalls }
    ].filter((p) => p.value !== null)
  },
  {
    id: 'io.read_syscalls',
    type: 'counter',
    unit: '{syscall}',
    help: 'read-family system calls made by all threads (read, pread64, readv, recvfrom, ...)',
    source: '/proc/self/io syscr',
    needs: 'sample',
    prom: { name: 'read_syscalls_total' },
    otel: null, // kernelscope.io.syscalls{kernelscope.io.direction=read}
    values: (snap) => snap.sample.io.readCalls === null ? [] : [{ dims: {}, value: snap.sample.io.readCalls }]
  },
  {
    id: 'io.write_syscalls',
    type: 'counter',
    unit: '{syscall}',
    help: 'write-family system calls made by all threads (write, pwrite64, writev, sendto, ...)',
    source: '/proc/self/io syscw',
    needs: 'sample',
    prom: { name: 'write_syscalls_total' },
    otel: null, // kernelscope.io.syscalls{kernelscope.io.direction=write}
    values: (snap) => snap.sample.io.writeCalls === null ? [] : [{ dims: {}, value: snap.sample.io.writeCalls }]
  },
  {
    id: 'io.disk',
    type: 'counter',
    unit: 'By',
    help: 'Bytes the process caused to be fetched from or sent to storage',
    source: '/proc/self/io read_bytes and write_bytes',
    needs: 'sample',
    prom: { name: 'disk_io_bytes_total', labels: { direction: 'direction' } },
    otel: { name: 'process.disk.io', instrument: 'counter', unit: 'By', attributes: { direction: 'disk.io.direction' }, semconv: true },
    values: (snap) => [
      { dims: { direction: 'read' }, value: snap.sample.io.readBytes },
      { dims: { direction: 'write' }, value: snap.sample.io.writeBytes }
    ].filter((p) => p.value !== null)
  },
  {
    id: 'sched.runqueue_wait',
    type: 'counter',
    unit: 's',
    help: 'Time the main thread (where the event loop runs) was runnable but waiting for a CPU',
    source: '/proc/self/schedstat field 2',
    needs: 'sample',
    prom: { name: 'runqueue_wait_seconds_total' },
    otel: { name: 'kernelscope.thread.runqueue.wait.duration', instrument: 'counter', unit: 's' },
    values: (snap) => snap.sample.scheduler.runqueueWaitMs === null ? [] : [{ dims: {}, value: snap.sample.scheduler.runqueueWaitMs / 1000 }]
  },
  {
    id: 'sched.context_switches',
    type: 'counter',
    unit: '{context_switch}',
    help: 'Context switches of all threads: voluntary (the thread blocked) and involuntary (preempted)',
    source: 'getrusage(RUSAGE_SELF) ru_nvcsw and ru_nivcsw',
    needs: 'sample',
    prom: { name: 'context_switches_total', labels: { type: 'type' } },
    otel: { name: 'process.context_switches', instrument: 'counter', unit: '{context_switch}', attributes: { type: 'process.context_switch.type' }, semconv: true },
    values: (snap) => [
      { dims: { type: 'voluntary' }, value: snap.sample.contextSwitches.voluntary },
      { dims: { type: 'involuntary' }, value: snap.sample.contextSwitches.involuntary }
    ].filter((p) => p.value !== null)
  },
  {
    id: 'mem.page_faults',
    type: 'counter',
    unit: '{fault}',
    help: 'Page faults: minor (served from memory) and major (served from disk)',
    source: 'getrusage(RUSAGE_SELF) ru_minflt and ru_majflt',
    needs: 'sample',
    prom: { name: 'page_faults_total', labels: { type: 'type' } },
    otel: { name: 'process.paging.faults', instrument: 'counter', unit: '{fault}', attributes: { type: 'system.paging.fault.type' }, semconv: true },
    values: (snap) => [
      { dims: { type: 'minor' }, value: snap.sample.faults.minor },
      { dims: { type: 'major' }, value: snap.sample.faults.major }
    ].filter((p) => p.value !== null)
  },
  {
    id: 'tcp.retransmits',
    type: 'counter',
    unit: '{segment}',
    help: "TCP segments retransmitted by the process's sockets (each socket's tcpi_total_retrans, accumulated per scrape)",
    source: 'getsockopt(TCP_INFO) tcpi_total_retrans of each TCP socket at each scrape',
    needs: 'fds',
    prom: { name: 'tcp_retransmitted_segments_total' },
    otel: { name: 'kernelscope.tcp.retransmits', instrument: 'counter', unit: '{segment}' },
    values: (snap) => [{ dims: {}, value: snap.fds.retransmits }]
  },
  {
    id: 'socket.queue',
    type: 'gauge',
    unit: 'By',
    help: "Bytes waiting in the kernel queues of the process's sockets: send (not yet sent or not yet acknowledged) and receive (arrived, not yet read)",
    source: 'ioctl SIOCOUTQ and SIOCINQ of each socket (listeners excluded)',
    needs: 'fds',
    prom: { name: 'socket_queue_bytes', labels: { direction: 'direction' } },
    otel: {
      name: 'kernelscope.socket.queue.size',
      instrument: 'updowncounter',
      unit: 'By',
      attributes: { direction: 'network.io.direction' },
      values: { direction: { send: 'transmit', receive: 'receive' } }
    },
    values: (snap) => dirs(snap.fds.sendQueueBytes, snap.fds.recvQueueBytes)
  }
]

module.exports = { METRICS, DEFAULT_BUCKETS }
