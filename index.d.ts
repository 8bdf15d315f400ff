// Type definitions for kernelscope. Every number says its unit in its name (…Ms milliseconds,
// …Bytes bytes; plain counts otherwise) and every field says where the kernel keeps it.
// `null` always means "the kernel did not give this here" (older kernel, restricted /proc).

/** Errors thrown by kernelscope follow Node's own: `code` is an errno name (`EBADF`) or `ERR_*`. */
export interface KernelscopeError extends Error {
  code: string
  /** Negative errno, for system errors. */
  errno?: number
  /** The syscall that failed, for system errors. */
  syscall?: string
}

/** false when the native addon could not load (other OS, missing binary): every call then throws `ERR_KERNELSCOPE_UNSUPPORTED_PLATFORM`. */
export const supported: boolean
/** Why the addon did not load, or null when it did. */
export const unsupportedReason: string | null

// ---------------------------------------------------------------------------------------------
// 1. Process and thread sampling
// ---------------------------------------------------------------------------------------------

export interface Sample {
  /** getpid(). */
  pid: number
  /** CLOCK_MONOTONIC in ms, the clock of process.hrtime(). */
  atMs: number
  cpu: {
    /** CPU time in user mode, all threads, live and exited (getrusage RUSAGE_SELF ru_utime; µs resolution). */
    userMs: number | null
    /** CPU time in the kernel, all threads (getrusage ru_stime). */
    systemMs: number | null
  }
  contextSwitches: {
    /** Voluntary switches: the thread blocked (getrusage ru_nvcsw = status voluntary_ctxt_switches). */
    voluntary: number | null
    /** Involuntary switches: preempted (getrusage ru_nivcsw). */
    involuntary: number | null
  }
  faults: {
    /** Minor page faults (getrusage ru_minflt). */
    minor: number | null
    /** Major page faults, served from disk (getrusage ru_majflt). */
    major: number | null
  }
  memory: {
    /** Resident set (/proc/self/statm resident × page size). */
    rssBytes: number | null
    /** Virtual size (/proc/self/statm size × page size). */
    virtualBytes: number | null
    /** Peak resident set (getrusage ru_maxrss, at least rssBytes; = status VmHWM). */
    peakRssBytes: number | null
    /** Anonymous resident memory (statm resident − shared = status RssAnon). */
    rssAnonBytes: number | null
    /** File-backed resident memory, shared memory included (statm shared = status RssFile + RssShmem). */
    rssFileBytes: number | null
  }
  /** /proc/self/io, all threads. */
  io: {
    /** read-family syscalls: read, pread64, readv, … (syscr). */
    readCalls: number | null
    /** write-family syscalls (syscw). */
    writeCalls: number | null
    /** Bytes returned by read-family calls, page cache and pipes included (rchar). */
    readChars: number | null
    /** Bytes passed to write-family calls (wchar). */
    writeChars: number | null
    /** Bytes fetched from storage (read_bytes). */
    readBytes: number | null
    /** Bytes sent to storage (write_bytes). */
    writeBytes: number | null
    /** Written bytes later truncated away before reaching storage (cancelled_write_bytes). */
    cancelledWriteBytes: number | null
  }
  /** /proc/self/schedstat: the main thread (the thread-group leader, where the main event loop runs). */
  scheduler: {
    /** Time on a CPU. */
    runMs: number | null
    /** Time runnable but waiting for a CPU. */
    runqueueWaitMs: number | null
    /** Times it was scheduled onto a CPU. */
    timeslices: number | null
  }
  /** Number of threads (/proc/self/stat num_threads). */
  threads: number | null
  /** RLIMIT_NOFILE (getrlimit); Infinity when unlimited. */
  fdLimits: { soft: number | null, hard: number | null }
}

/**
 * One snapshot of the whole process. A few microseconds, no O(n) work, no allocation besides
 * the returned object: the /proc files stay open (4 fds) and are re-read with pread.
 */
export function sample(): Sample

type Counts<T> = { [K in keyof T]: number | null }

export interface SampleDelta {
  pid: number
  atMs: number
  /** Time between the two snapshots. */
  intervalMs: number
  cpu: Counts<Sample['cpu']>
  contextSwitches: Counts<Sample['contextSwitches']>
  faults: Counts<Sample['faults']>
  io: Counts<Sample['io']>
  scheduler: Counts<Sample['scheduler']>
  /** Memory now (gauges). */
  memory: Sample['memory']
  /** Memory now minus memory then. */
  memoryChange: Counts<Sample['memory']>
  threads: number | null
  fdLimits: Sample['fdLimits']
  /** (user + system CPU ms) / intervalMs × 100; 100 = one core busy. */
  cpuPercent: number | null
  readCallsPerSec: number | null
  writeCallsPerSec: number | null
  readCharsPerSec: number | null
  writeCharsPerSec: number | null
  readBytesPerSec: number | null
  writeBytesPerSec: number | null
  voluntarySwitchesPerSec: number | null
  involuntarySwitchesPerSec: number | null
  minorFaultsPerSec: number | null
  majorFaultsPerSec: number | null
}

export class Sampler {
  /** A full snapshot; it also becomes the baseline of the next delta(). */
  sample(): Sample
  /** Differences since the previous sample()/delta() (or creation), with rates per second. */
  delta(): SampleDelta
}

/** A sampler whose baseline is taken now. */
export function createSampler(): Sampler

/** Number of open descriptors (entries of /proc/self/fd, counted with getdents64, no readlink). */
export function fdCount(): number

export type ThreadRole =
  | 'main'
  | 'libuv-worker'
  | 'v8-worker'
  | 'delayed-task-scheduler'
  | 'signal-inspector'
  | 'worker-thread'
  | 'other'

export type ThreadState =
  | 'running' | 'sleeping' | 'disk-sleep' | 'stopped' | 'tracing-stop' | 'zombie' | 'dead'
  | 'idle' | 'parked' | 'waking' | 'wakekill' | 'unknown'

export interface ThreadSyscall {
  /** Syscall number (/proc/self/task/<tid>/syscall, first field). */
  nr: number
  /** Its name in this architecture's table (x86-64 or aarch64), null when unknown. */
  name: string | null
  /** The six raw arguments as hex strings, exactly as the kernel prints them. */
  args: string[]
  /**
   * What the call is about, best effort (the thread may move on while we look):
   * for an fd argument the fd's /proc/self/fd link, or for a connected socket its peer
   * ('127.0.0.1:8080', '[::1]:443', 'unix:/run/x.sock'); for a path argument the path string
   * read from this process's memory with process_vm_readv; for poll/ppoll the first fd polled.
   * null when the call has no such argument or it could not be read.
   */
  target: string | null
}

export interface ThreadInfo {
  /** Thread id (/proc/self/task/<tid>). */
  tid: number
  /** Thread name, 15 bytes at most (task/<tid>/stat comm). */
  name: string
  /**
   * Node's use of the thread. From the thread name where Node sets one (Node >= 22 names
   * libuv workers and the delayed-task scheduler, Node 24 all of them); on Node 20, where every
   * thread is called "node", inferred from Node's boot order (scheduler, --v8-pool-size
   * platform workers, signal inspector), libuv's pool being created as one run of
   * UV_THREADPOOL_SIZE threads, and worker_threads blocking in epoll_wait when idle. Threads
   * kernelscope itself saw run threadpool work, or was loaded on as a worker, are certain.
   */
  role: ThreadRole
  /** Scheduler state (task/<tid>/stat field 3). */
  state: ThreadState
  /** CPU time (task/<tid>/stat utime/stime, clock-tick resolution, usually 10 ms). */
  cpu: { userMs: number, systemMs: number }
  /** task/<tid>/status voluntary_ctxt_switches / nonvoluntary_ctxt_switches. */
  contextSwitches: { voluntary: number | null, involuntary: number | null }
  /** Time runnable but waiting for a CPU (task/<tid>/schedstat field 2). */
  runqueueWaitMs: number | null
  /** The syscall the thread is blocked in; null when it is running or not in a syscall, or when `syscalls: false`. */
  syscall: ThreadSyscall | null
  /** Kernel function it sleeps in, e.g. 'wait_for_partner', 'do_epoll_wait' (task/<tid>/wchan); null when running or hidden. */
  wchan: string | null
}

export interface ThreadsOptions {
  /** Read and decode task/<tid>/syscall for each thread (default true). */
  syscalls?: boolean
}

/**
 * One entry per thread of this process, in creation order. Synchronous on purpose: it must
 * answer while the libuv threadpool is saturated. A thread that exits mid-scan is left out.
 */
export function threads(options?: ThreadsOptions): ThreadInfo[]
