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
    /**
     * Voluntary switches of all threads, live and exited: a thread blocked (getrusage
     * RUSAGE_SELF ru_nvcsw). Not /proc/self/status voluntary_ctxt_switches, which counts the
     * main thread only (363 there against 5,726 here, measured with a busy threadpool); the sum
     * of task/<tid>/status over live threads comes close.
     */
    voluntary: number | null
    /** Involuntary switches of all threads: preempted (getrusage ru_nivcsw). */
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
  /** Number of threads: the link count of /proc/self/task (2 + one per thread; an fstat, not a read of /proc/self/stat). */
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

export interface ProcessLimit {
  /** Soft limit; Infinity when unlimited. */
  soft: number
  /** Hard limit; Infinity when unlimited. */
  hard: number
}

/** Another process as /proc/<pid> shows it (procfs crate; a cold path). */
export interface ProcessInfo {
  pid: number
  /** stat comm, 15 bytes at most. */
  comm: string
  /** /proc/<pid>/cmdline split at NULs (invalid UTF-8 replaced by U+FFFD); empty for kernel threads and zombies. */
  cmdline: string[]
  /** readlink /proc/<pid>/exe; null when refused or gone. */
  exe: string | null
  /** stat state letter ('R', 'S', 'D', 'Z', …). */
  state: string
  ppid: number
  /** status Uid: real and effective. */
  uid: number | null
  euid: number | null
  /** stat num_threads. */
  threads: number
  /** stat utime / stime, ms (clock-tick resolution). */
  userMs: number
  systemMs: number
  /** Seconds since it started (stat starttime against /proc/uptime). */
  elapsedSeconds: number | null
  /** stat rss × page size, bytes. */
  rssBytes: number
  /** stat vsize, bytes. */
  virtualBytes: number
  /** status VmHWM, bytes. */
  peakRssBytes: number | null
  /** status voluntary_ctxt_switches / nonvoluntary_ctxt_switches (the main thread). */
  voluntarySwitches: number | null
  involuntarySwitches: number | null
  /** /proc/<pid>/io syscr, syscw, rchar, wchar; null when refused (another user's process). */
  readCalls: number | null
  writeCalls: number | null
  readChars: number | null
  writeChars: number | null
  /** /proc/<pid>/limits; null when refused. */
  limits: {
    openFiles: ProcessLimit | null
    processes: ProcessLimit | null
    addressSpaceBytes: ProcessLimit | null
    stackBytes: ProcessLimit | null
    coreFileBytes: ProcessLimit | null
  } | null
  /** UV_THREADPOOL_SIZE and NODE_OPTIONS from /proc/<pid>/environ (no other variable is read); null when absent or refused. */
  uvThreadpoolSize: string | null
  nodeOptions: string | null
}

/** Reads /proc/<pid> of a process (any pid the caller may read). Throws ENOENT for no such process, ERR_INVALID_ARG_TYPE / ERR_OUT_OF_RANGE for a bad pid. */
export function processInfo(pid: number): ProcessInfo

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

export type ThreadRoleSource =
  | 'tid'
  | 'name'
  | 'registered'
  | 'pool-probe'
  | 'pool-stack'
  | 'boot-order'
  | 'inferred'

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
   * Node's use of the thread; `roleSource` says what it rests on. From the thread name where
   * Node sets one (Node >= 22 names libuv workers and the delayed-task scheduler, Node 24 and 26
   * all of them). On Node 20, where every thread is called "node": the boot threads from
   * Node's boot order (scheduler, --v8-pool-size platform workers, signal inspector); the libuv
   * pool from a probe task kernelscope queues on the pool (the first threads() call queues
   * UV_THREADPOOL_SIZE of them and waits up to 250 ms for idle pool threads to take one) and
   * from the stacks of the other threads (a thread whose stack starts in the function the
   * probe's thread started in, libuv's worker loop, is a pool thread, idle or blocked in its
   * work). A pool thread that neither reaches (running, or its syscall file refused) is
   * inferred from libuv creating its pool as one run of UV_THREADPOOL_SIZE threads started
   * together. A thread that kernelscope was loaded in as a worker_threads environment is
   * 'worker-thread'; a thread whose stack starts elsewhere (a worker_thread's, whether it is
   * parked in Atomics.wait or busy) is never 'libuv-worker'; other unnamed threads are
   * 'worker-thread' when they sit in epoll_wait (their own event loop), else 'other'.
   */
  role: ThreadRole
  /**
   * What `role` rests on: 'tid' (the main thread: its tid is the pid), 'name' (the thread's
   * name), 'registered' (kernelscope was loaded in its worker_threads environment),
   * 'pool-probe' (it ran kernelscope's probe task from the libuv pool), 'pool-stack' (its stack
   * starts where the probe's thread's does), 'boot-order' (Node 20: its place among the threads
   * Node starts at boot), 'inferred' (the rest: the pool as one run of threads started
   * together, epoll_wait, or nothing known: 'other'). All but 'boot-order' and 'inferred' are
   * certain.
   */
  roleSource: ThreadRoleSource
  /** Scheduler state (task/<tid>/stat field 3). */
  state: ThreadState
  /** CPU time (task/<tid>/stat utime/stime, clock-tick resolution, usually 10 ms). */
  cpu: { userMs: number, systemMs: number }
  /** task/<tid>/status voluntary_ctxt_switches / nonvoluntary_ctxt_switches. */
  contextSwitches: { voluntary: number | null, involuntary: number | null }
  /** Time runnable but waiting for a CPU (task/<tid>/schedstat field 2). */
  runqueueWaitMs: number | null
  /**
   * The syscall the thread is blocked in; null when it is running or not in a syscall, when
   * `syscalls: false`, or when it is unknown: then `syscallError` says why.
   */
  syscall: ThreadSyscall | null
  /**
   * Why `syscall` is unknown: task/<tid>/syscall could not be read, as 'ERRNO: path' (e.g.
   * 'EACCES: /proc/self/task/123/syscall' in a process that is not dumpable, as after
   * process.setuid(): its /proc files then belong to root and the syscall file is mode 0400).
   * null when it was read (then `syscall: null` means running or not in a syscall) and when
   * `syscalls: false`.
   */
  syscallError: string | null
  /** Kernel function it sleeps in, e.g. 'wait_for_partner', 'do_epoll_wait' (task/<tid>/wchan); null when running or hidden. */
  wchan: string | null
}

export interface ThreadsOptions {
  /** Read and decode task/<tid>/syscall for each thread (default true). */
  syscalls?: boolean
  /**
   * Another process to read (/proc/<pid>/task; default: this one). Its syscall targets are its
   * /proc/<pid>/fd links ('socket:[inode]' for a socket) and path arguments read from its memory
   * (process_vm_readv: same user or root). Roles come from its thread names and, for Node, its
   * NODE_OPTIONS / command line / UV_THREADPOOL_SIZE; a process that is not Node has 'main' and
   * 'other' only. Throws ENOENT (syscall 'readdir') for a pid that does not exist.
   */
  pid?: number
}

/**
 * One entry per thread of this process, in creation order. Synchronous on purpose: it must
 * answer while the libuv threadpool is saturated. A thread that exits mid-scan is left out.
 * On Node 20 the first call that finds enough unnamed threads for a pool queues probe tasks
 * on the pool and waits for them: up to 100 ms when no pool thread is free (a saturated
 * pool), up to 250 ms in all (see `ThreadInfo.role`). While some unnamed thread is still
 * unexplained, a later call probes again, waiting up to 50 ms, at most once a second, then
 * every 2, 4, ... 60 s. Probes no pool thread took are withdrawn before the call returns.
 */
export function threads(options?: ThreadsOptions): ThreadInfo[]

// ---------------------------------------------------------------------------------------------
// 2. Descriptor inventory
// ---------------------------------------------------------------------------------------------

/**
 * What a descriptor is. From the /proc/<pid>/fd link text ('socket:[…]', 'pipe:[…]',
 * 'anon_inode:[eventpoll]', …) and, for paths, the file type in fstat's st_mode.
 * 'anon' is any other anonymous inode (userfaultfd, fanotify, perf_event, bpf, …); 'unknown'
 * is what neither tells (namespace fds such as 'net:[4026531833]', or an fd closed mid-scan).
 * An O_PATH descriptor on a unix socket's file is a 'file' (its target the path): it holds
 * the path, it is not a socket.
 */
export type FdType =
  | 'file' | 'directory' | 'socket' | 'pipe' | 'fifo' | 'char-device' | 'block-device'
  | 'epoll' | 'eventfd' | 'timerfd' | 'signalfd' | 'inotify' | 'pidfd' | 'io_uring'
  | 'anon' | 'unknown'

/**
 * TCP states as `ss` names them, lower case (include/net/tcp_states.h). UDP and unix sockets
 * use the same codes: 'established' = connected, 'unconnected' = not connected (ss: UNCONN),
 * 'listen' = listening.
 */
export type SocketStateName =
  | 'established' | 'syn-sent' | 'syn-recv' | 'fin-wait-1' | 'fin-wait-2' | 'time-wait'
  | 'unconnected' | 'close-wait' | 'last-ack' | 'listen' | 'closing' | 'new-syn-recv'
  | 'bound-inactive' | 'unknown'

/**
 * A socket as the kernel's socket tables describe it: one NETLINK_SOCK_DIAG dump per
 * family/protocol (inet_diag_msg / unix_diag_msg), or, where netlink is refused, the
 * /proc/<pid>/net/{tcp,tcp6,udp,udp6,unix} tables. Matched to the fd by inode.
 */
export interface FdSocket {
  /** 'IPv4' | 'IPv6' (as Node's socket.remoteFamily) or 'unix'. */
  family: 'IPv4' | 'IPv6' | 'unix'
  /** 'tcp' | 'udp' for IPv4/IPv6; 'stream' | 'dgram' | 'seqpacket' for unix (the socket type). */
  protocol: 'tcp' | 'udp' | 'stream' | 'dgram' | 'seqpacket' | 'unknown'
  /** Connection state (inet_diag_msg.idiag_state, unix_diag_msg.udiag_state, /proc/net `st`). */
  state: SocketStateName
  /**
   * Local IP address ('127.0.0.1', '::1', '::ffff:127.0.0.1'); for unix the bound name or null
   * when unnamed: a path (every byte kept, newlines too), an abstract name as ss shows it ('@',
   * then every NUL of the name as '@': '\0ks\0a' -> '@ks@a'; a name filling all 108 bytes of
   * sun_path loses its trailing NULs, Node 20's padding). Bytes that are not UTF-8 are U+FFFD,
   * as fs.readlinkSync() decodes them. From /proc/net/unix, a name over several lines is joined
   * (docs/fds.md "Names" gives that file's limits).
   */
  localAddress: string | null
  /** Local port (inet_diag_sockid.idiag_sport); null for unix. */
  localPort: number | null
  /** Peer IP address ('0.0.0.0' / '::' when not connected); for unix the connected peer's bound name, shown as localAddress is (UNIX_DIAG_PEER resolved in the same dump), null when the peer is unnamed or unknown (always null from /proc/net/unix). */
  remoteAddress: string | null
  /** Peer port (idiag_dport), 0 when not connected; null for unix. */
  remotePort: number | null
  /** unix: the socket's own name, else the peer's (a client of /run/app.sock shows '/run/app.sock'); null for IPv4/IPv6 and unnamed pairs. */
  path: string | null
  /**
   * TCP: bytes sent but not yet acknowledged plus not yet sent (idiag_wqueue, ss Send-Q); for a
   * listener its backlog limit (from /proc/net/tcp, which lacks it: TCP_INFO's for this
   * process's own listeners, null for another process's). UDP: bytes in the send buffer. unix:
   * bytes queued (UNIX_DIAG_RQLEN; for a listener the backlog limit); null from /proc/net/unix.
   */
  sendQueueBytes: number | null
  /**
   * TCP: bytes received but not yet read by the process (idiag_rqueue, ss Recv-Q); for a
   * listener the connections waiting for accept(). UDP: bytes in the receive buffer. unix:
   * likewise (UNIX_DIAG_RQLEN); null from /proc/net/unix.
   */
  recvQueueBytes: number | null
}

/** One watch of an epoll instance (/proc/<pid>/fdinfo/<fd> `tfd:` lines). */
export interface EpollWatch {
  /** The watched descriptor number (tfd). */
  fd: number
  /** The event mask it waits for, decoded ('EPOLLIN', 'EPOLLOUT', 'EPOLLET', …). */
  events: string[]
  /** Inode of the watched file (`ino:`), to tell a reused fd number apart. */
  inode: number | null
}

/** One inotify watch (/proc/<pid>/fdinfo/<fd> `inotify wd:` lines). */
export interface InotifyWatch {
  /** Watch descriptor (as inotify_add_watch returned it). */
  wd: number
  /** Inode of the watched file or directory. */
  inode: number | null
  /** Device number (st_dev) of the watched inode, as the kernel encodes it. */
  device: number | null
  /** The watch mask, decoded ('IN_CREATE', 'IN_MODIFY', …). */
  events: string[]
}

export interface FdEntry {
  /** Descriptor number (a name in /proc/<pid>/fd). */
  fd: number
  type: FdType
  /**
   * readlink(/proc/<pid>/fd/<fd>): '/var/log/app.log', 'socket:[12345]', 'pipe:[678]',
   * 'anon_inode:[eventpoll]', '/tmp/x (deleted)'. For this process's own sockets it is built
   * from fstat's inode as 'socket:[<inode>]', the exact text the kernel's readlink gives,
   * without the readlink. Every byte of a path is kept (newlines too); bytes that are not UTF-8
   * are U+FFFD, exactly as fs.readlinkSync() decodes the same link. null when the fd vanished
   * before it could be read.
   */
  target: string | null
  /** Inode number (st_ino from fstat, or the number in 'socket:[…]' / 'pipe:[…]'). All anon_inode fds but pidfd/io_uring share one inode. */
  inode: number | null
  /** For a socket with `sockets: true` (the default) and a match in the socket tables; else null. */
  socket: FdSocket | null
  /**
   * Why a socket has no `socket` details: the socket tables could not be read ('socket tables
   * unavailable: tcp: netlink EPERM, /proc/self/net/tcp EACCES; …'), or it is of a family
   * the tables do not list ('not in the socket dumps (AF_NETLINK socket)'). null otherwise.
   */
  socketError: string | null
  /** File offset, bytes (fdinfo `pos`); null unless `fdinfo: true`. */
  position: number | null
  /** Open flags decoded from fdinfo `flags` (octal f_flags): 'O_RDONLY' | 'O_WRONLY' | 'O_RDWR' first, then 'O_APPEND', 'O_NONBLOCK', 'O_CLOEXEC', 'O_DIRECTORY', 'O_PATH', …; null unless `fdinfo: true`. */
  flags: string[] | null
  /** For an epoll fd with `fdinfo: true`: what it watches. The event loop's own epoll fd lists every handle libuv polls. */
  epoll: { watches: EpollWatch[] } | null
  /** For an eventfd with `fdinfo: true`: the counter (`eventfd-count`) and EFD_SEMAPHORE mode. */
  eventfd: { count: number, semaphore: boolean | null } | null
  /** For a timerfd with `fdinfo: true`: its clock, expirations not yet read, the time to the next expiry (0 = disarmed) and the period (0 = one-shot), in ms, and TFD_TIMER_ABSTIME. */
  timerfd: { clock: 'realtime' | 'monotonic' | 'boottime' | 'realtime-alarm' | 'boottime-alarm' | 'other', ticks: number, valueMs: number, intervalMs: number, absolute: boolean } | null
  /** For an inotify fd with `fdinfo: true`: its watches. */
  inotify: { watches: InotifyWatch[] } | null
  /**
   * The descriptor vanished or changed while it was being looked at: 'closed during the scan',
   * 'replaced during the scan' (the number was closed and reused for another file between two
   * looks at it, twice running; type 'unknown', target and inode null; or, seen by the fdinfo
   * read, after the rest was read), 'readlink failed: EACCES'. Reported here, never thrown.
   * With an error, only what it does not contradict is kept. null normally.
   */
  error: string | null
}

export interface FdsOptions {
  /** Resolve sockets to their endpoints, states and queues (default true; NETLINK_SOCK_DIAG dumps of the network namespace, ~1-3 ms for 2,000 sockets). */
  sockets?: boolean
  /** Also read /proc/<pid>/fdinfo/<fd> for each fd: position, flags, epoll/eventfd/timerfd/inotify details (default false; one open+read+close per fd, several times the cost). */
  fdinfo?: boolean
  /** Another process whose /proc/<pid>/fd the caller may read (default: this process). Its sockets come from netlink when it shares this network namespace, else from /proc/<pid>/net. */
  pid?: number
}

/**
 * Every open descriptor, classified, sorted by fd number. Runs on a dedicated native thread
 * ('kernelscope-fds', helped by 'kernelscope-fdh' from 1,024 fds on), not the libuv
 * threadpool, so it answers while the pool is saturated.
 * Rejects only on bad options, when /proc/<pid>/fd cannot be opened (ENOENT, EACCES; syscall
 * 'open') or when every fd link of another process is refused (EACCES; syscall 'readlink').
 */
export function fds(options?: FdsOptions): Promise<FdEntry[]>
/** The same inventory, computed on the calling thread. */
export function fdsSync(options?: FdsOptions): FdEntry[]
/**
 * Differences between two inventories (from fds()/fdsSync()): `opened` are entries of
 * `after` not in `before`, `closed` entries of `before` not in `after`. Identity is
 * fd + inode, so a number closed and reused for another file appears in both.
 */
export function diffFds(before: FdEntry[], after: FdEntry[]): { opened: FdEntry[], closed: FdEntry[] }

// 3. Event-loop wait timing
// ---------------------------------------------------------------------------------------------
// Sources: libuv prepare and check hooks on the calling thread's loop (napi_get_uv_event_loop);
// times on CLOCK_MONOTONIC; the wait from uv_metrics_idle_time (the counter behind
// performance.eventLoopUtilization()); events from uv_metrics_info (libuv >= 1.45). See docs/loop.md.

export interface LoopMonitorOptions {
  /** Iterations kept for history(), oldest dropped first (default 1024, integer 1 ..= 1048576). */
  historySize?: number
}

/** A fixed-memory log-linear histogram, in milliseconds. Quantiles are bucket tops (never below the true value, at most 1/32 above), clamped to the exact min and max; all null while count is 0. */
export interface LoopHistogram {
  /** Values recorded. */
  count: number
  /** Smallest value, exact. */
  minMs: number | null
  /** Largest value, exact. */
  maxMs: number | null
  /** Exact mean (sum / count): meanMs × count is the exact total. */
  meanMs: number | null
  p50Ms: number | null
  p90Ms: number | null
  p99Ms: number | null
  p999Ms: number | null
}

export interface LoopStats {
  /** Loop iterations recorded since start or reset() (one per prepare → check pair). */
  iterations: number
  /** I/O events epoll returned over those iterations (uv_metrics_info().events delta); null on a libuv without uv_metrics_info. */
  events: number | null
  /** Sum of waitMs: time blocked in epoll_wait (uv_metrics_idle_time delta, the `idle` of performance.eventLoopUtilization()). */
  idleMs: number
  /** Time since start or reset() (until close()) not spent waiting: callbacks, JS, GC, the loop's own work. */
  busyMs: number
  /** busyMs / (busyMs + idleMs), 0..1; null before any time has passed. */
  utilization: number | null
  /** Per iteration: time blocked in epoll_wait (uv_metrics_idle_time delta between prepare and check). */
  waitMs: LoopHistogram
  /** Per iteration: the whole poll phase, prepare to check (CLOCK_MONOTONIC): wait + I/O callbacks + pending callbacks. */
  pollMs: LoopHistogram
  /** Per iteration: one whole loop turn, prepare to the next prepare (CLOCK_MONOTONIC); the turn in progress is not counted yet. */
  iterationMs: LoopHistogram
  /** What ended each poll. */
  wakeups: {
    /** epoll returned events (sockets, pipes, timers' fds, threadpool completions, cross-thread wakeups). */
    io: number
    /** The poll blocked and its timeout (the next timer) ran out with no event. */
    timeout: number
    /** The poll did not block at all (timeout 0: setImmediate, pending or closing callbacks) and found no event. */
    immediate: number
  }
}

export interface LoopIteration {
  /** When the poll phase began (the prepare hook), CLOCK_MONOTONIC ms: the clock of process.hrtime(). */
  atMs: number
  /** libuv's poll timeout for this iteration (uv_backend_timeout at prepare), a hint: 0 = do not block; null = no timer bounded the wait (infinite) or the value was not observable (fd changes pending, when uv_backend_timeout answers 0 although libuv then blocks). */
  timeoutMs: number | null
  /** Time blocked in epoll_wait (uv_metrics_idle_time delta). */
  waitMs: number
  /** I/O events epoll returned in this poll (uv_metrics_info().events delta); null without uv_metrics_info. */
  events: number | null
  /** Prepare to check: wait + I/O callbacks + pending callbacks. */
  pollMs: number
  /** Prepare to the next prepare: the whole turn (timers, immediates, close callbacks included); null for the turn still in progress. */
  iterationMs: number | null
}

/**
 * Per-iteration timing of the calling thread's libuv loop (main thread or worker). Hooks are
 * unref'd (never keep the process alive) and close themselves when the thread's environment is
 * torn down. Several monitors on one thread share one pair of hooks and see the same
 * iterations; each has its own numbers, reset() and close(). A monitor that is garbage-collected
 * without close() stops.
 */
export class LoopMonitor {
  constructor(options?: LoopMonitorOptions)
  /** Totals and histograms since start or the last reset(); frozen after close(). */
  stats(): LoopStats
  /** The last `historySize` iterations, oldest first. */
  history(): LoopIteration[]
  /** Forgets everything; counting starts again with the next iteration. */
  reset(): void
  /**
   * Stops this monitor (the hooks stop when no monitor on the thread is left) and lets go of
   * the native memory its frozen numbers no longer need (an open monitor holds ~30 KB of
   * histograms plus 72 bytes per history slot, reported to V8 as external memory): stats(),
   * history() and buckets() answer as before. Calling it again does nothing.
   */
  close(): void
  /** true after close(), or once the thread's environment was torn down. */
  readonly closed: boolean
  /**
   * Cumulative (Prometheus-style) histograms of wait, poll and iteration time: for each bound
   * (seconds, finite, ascending) the number of values <= it, read from the monitor's own
   * log-linear buckets (a value within 1/32 below a bound may be counted at the next bound, never
   * at an earlier one), with the count and the exact sum in seconds. Throws ERR_INVALID_ARG_TYPE
   * / ERR_OUT_OF_RANGE for bounds that are not positive, finite and increasing.
   */
  buckets(boundsSeconds: number[] | Float64Array): {
    wait: LoopBuckets
    poll: LoopBuckets
    iteration: LoopBuckets
  }
}

export interface LoopBuckets {
  /** counts[i]: values <= boundsSeconds[i] (cumulative). */
  counts: number[]
  /** All values recorded (the +Inf bucket). */
  count: number
  /** Their exact sum, seconds. */
  sumSeconds: number
}

/** Starts a LoopMonitor on the calling thread's loop. Throws TypeError ERR_INVALID_ARG_TYPE / RangeError ERR_OUT_OF_RANGE for bad options. */
export function monitorLoop(options?: LoopMonitorOptions): LoopMonitor

// ---------------------------------------------------------------------------------------------
// 4. Socket state and backpressure
// ---------------------------------------------------------------------------------------------

/**
 * Where the bytes are stuck, judged over the interval since the previous socketState() call
 * for the socket (>= 100 ms earlier) or since connect, from TCP_INFO's accumulated counters
 * (tcpi_busy_time, tcpi_rwnd_limited, tcpi_sndbuf_limited, tcpi_total_retrans, tcpi_lost,
 * tcpi_ca_state, tcpi_backoff), by the rules in docs/socket.md. 'connecting': a connect
 * retransmitting its SYN; 'accept-queue-full': a listener whose queue exceeds its backlog;
 * null: unknown (TCP_INFO refused, a full unix socket on its first call).
 */
export type SocketVerdict = 'ok' | 'peer-not-reading' | 'send-buffer-full' | 'network-limited' | 'app-queue-growing' |
  'connecting' | 'accept-queue-full' | null

/**
 * struct tcp_info from getsockopt(TCP_INFO), decoded by the length the kernel returned
 * (`infoBytes`): a field a kernel does not have yet is `null`. Times the kernel keeps in µs
 * (tcpi_rtt, tcpi_busy_time, …) are converted to ms, sub-ms precision kept.
 */
export interface TcpInfo {
  /** Bytes of struct tcp_info the kernel returned (280 on Linux 6.18, 104 on 2.6). */
  infoBytes: number
  /** Congestion-control state (tcpi_ca_state): 'open' | 'disorder' | 'cwr' | 'recovery' | 'loss'. */
  caState: string
  /** RTO timeouts not yet recovered, now (tcpi_retransmits). */
  retransmits: number
  /** Unanswered zero-window or keepalive probes (tcpi_probes). */
  probes: number
  /** RTO exponential backoff (tcpi_backoff). */
  backoff: number
  /** TCPI_OPT_* bits: 1 timestamps, 2 SACK, 4 window scale, 8 ECN, … (tcpi_options). */
  options: number
  /** Window scale we apply to the peer's window (tcpi_snd_wscale). */
  sndWscale: number
  /** Window scale the peer applies to ours (tcpi_rcv_wscale). */
  rcvWscale: number
  /** Retransmission timeout (tcpi_rto, µs -> ms). */
  rtoMs: number
  /** Delayed-ACK timeout (tcpi_ato, µs -> ms). */
  atoMs: number
  /** Send MSS, bytes (tcpi_snd_mss). */
  sndMss: number
  /** Receive MSS estimate, bytes (tcpi_rcv_mss). */
  rcvMss: number
  /** Segments sent and not yet acked (tcpi_unacked). */
  unacked: number
  /** SACKed segments (tcpi_sacked). */
  sacked: number
  /** Segments considered lost (tcpi_lost). */
  lost: number
  /** Retransmitted segments not yet acked (tcpi_retrans). */
  retrans: number
  /** ms since data was last sent (tcpi_last_data_sent). */
  lastDataSentMs: number
  /** ms since data was last received (tcpi_last_data_recv). */
  lastDataRecvMs: number
  /** ms since an ACK was last received (tcpi_last_ack_recv). */
  lastAckRecvMs: number
  /** Path MTU, bytes (tcpi_pmtu). */
  pmtu: number
  /** Receive slow-start threshold, bytes (tcpi_rcv_ssthresh). */
  rcvSsthresh: number
  /** Smoothed round-trip time (tcpi_rtt, µs -> ms). */
  rttMs: number
  /** RTT variance (tcpi_rttvar, µs -> ms). */
  rttVarMs: number
  /** Send slow-start threshold, segments (tcpi_snd_ssthresh; 2147483647 = still in initial slow start). */
  ssthresh: number
  /** Congestion window, segments (tcpi_snd_cwnd). */
  cwnd: number
  /** Advertised MSS, bytes (tcpi_advmss). */
  advmss: number
  /** Reordering metric (tcpi_reordering). */
  reordering: number
  /** Receiver-side RTT estimate (tcpi_rcv_rtt, µs -> ms). */
  rcvRttMs: number
  /** Receive buffer space estimate, bytes (tcpi_rcv_space). */
  rcvSpace: number
  /** Retransmitted segments over the connection's life (tcpi_total_retrans). */
  totalRetransmits: number
  /** Pacing rate, bytes/s (tcpi_pacing_rate; Linux 3.15). */
  pacingRateBytesPerSec: number | null
  /** Maximum pacing rate, bytes/s (tcpi_max_pacing_rate; 2^64-1 = unlimited). */
  maxPacingRateBytesPerSec: number | null
  /** Bytes acked by the peer, the SYN counting 1 (tcpi_bytes_acked; 4.1). */
  bytesAcked: number | null
  /** Bytes received in order (tcpi_bytes_received; 4.1). */
  bytesReceived: number | null
  /** Segments sent, retransmissions included (tcpi_segs_out; 4.2). */
  segsOut: number | null
  /** Segments received (tcpi_segs_in; 4.2). */
  segsIn: number | null
  /** Bytes queued and not yet sent (tcpi_notsent_bytes = SIOCOUTQNSD; 4.6). */
  notSentBytes: number | null
  /** Minimum RTT seen (tcpi_min_rtt, µs -> ms; 4.6). */
  minRttMs: number | null
  /** Data segments received (tcpi_data_segs_in). */
  dataSegsIn: number | null
  /** Data segments sent (tcpi_data_segs_out). */
  dataSegsOut: number | null
  /** Latest delivery-rate sample, bytes/s (tcpi_delivery_rate; 4.9). */
  deliveryRateBytesPerSec: number | null
  /** Time with data in flight (tcpi_busy_time, µs -> ms; 4.10). */
  busyMs: number | null
  /** Of busyMs, time limited by the peer's receive window (tcpi_rwnd_limited). */
  rwndLimitedMs: number | null
  /** Of busyMs, time limited by our send buffer (tcpi_sndbuf_limited). */
  sndbufLimitedMs: number | null
  /** Segments delivered (tcpi_delivered; 4.18). */
  delivered: number | null
  /** Segments delivered with ECN CE marks (tcpi_delivered_ce). */
  deliveredCe: number | null
  /** Bytes sent, retransmissions included (tcpi_bytes_sent; 4.19). */
  bytesSent: number | null
  /** Bytes retransmitted (tcpi_bytes_retrans). */
  bytesRetransmitted: number | null
  /** DSACKs received (tcpi_dsack_dups). */
  dsackDups: number | null
  /** Reordering events seen (tcpi_reord_seen). */
  reorderSeen: number | null
  /** Out-of-order packets received (tcpi_rcv_ooopack; 5.4). */
  rcvOutOfOrderPackets: number | null
  /** The peer's advertised receive window, bytes (tcpi_snd_wnd; 5.4). 0 = the peer is not reading. */
  sndWindowBytes: number | null
  /** Our advertised receive window, bytes (tcpi_rcv_wnd; 6.2). */
  rcvWindowBytes: number | null
  /** PLB / timeout rehashes (tcpi_rehash; 6.2). */
  rehash: number | null
  /** RTO timeouts over the connection's life (tcpi_total_rto; 6.7). */
  totalRto: number | null
  /** Recoveries from RTO timeouts (tcpi_total_rto_recoveries; 6.7). */
  totalRtoRecoveries: number | null
  /** Time spent in RTO recoveries (tcpi_total_rto_time, ms; 6.7). */
  totalRtoTimeMs: number | null
}

export interface SocketState {
  /** The file descriptor read (for a TLSSocket: the TCP socket underneath). */
  fd: number
  /** 'IPv4' | 'IPv6' (as Node's socket.remoteFamily) | 'unix' | 'netlink' | 'packet' | 'other' (getsockname). */
  family: string
  /** inet: 'tcp' | 'udp' | 'mptcp' | 'sctp' | … (SO_PROTOCOL); unix: 'stream' | 'dgram' | 'seqpacket' (SO_TYPE). */
  protocol: string
  /**
   * ss(8)'s names, as in fds(): TCP from tcpi_state ('established', 'syn-sent', 'close-wait',
   * 'listen', …; TCP_CLOSE is 'unconnected', ss's UNCONN); other sockets 'listen'
   * (SO_ACCEPTCONN), 'established' (has a peer) or 'unconnected'.
   */
  state: 'established' | 'syn-sent' | 'syn-recv' | 'fin-wait-1' | 'fin-wait-2' | 'time-wait' |
    'close-wait' | 'last-ack' | 'listen' | 'closing' | 'new-syn-recv' | 'bound-inactive' |
    'unconnected' | 'unknown' | null
  /**
   * Local address without port, as Node shows it: '127.0.0.1', '::1', '::ffff:127.0.0.1', a
   * unix path (any byte but NUL, newlines kept), an abstract name as ss shows it ('@', NULs
   * as '@', padding to the full 108-byte sun_path dropped); bytes that are not UTF-8 as
   * U+FFFD; the same text fds() gives. null when unnamed (getsockname).
   */
  localAddress: string | null
  /** null for unix sockets. */
  localPort: number | null
  /** The peer (getpeername); null when not connected or unnamed. */
  remoteAddress: string | null
  remotePort: number | null
  send: {
    /** Send buffer size, bytes (SO_SNDBUF, read via SO_MEMINFO; counts skb overhead, so roughly twice the payload it holds). */
    bufferBytes: number | null
    /** Bytes in the send queue: TCP unsent + sent-unacked (ioctl SIOCOUTQ; unix/UDP: memory charged to the socket). */
    queuedBytes: number | null
    /** TCP only: queued bytes not yet sent (SIOCOUTQNSD, read from tcpi_notsent_bytes where TCP_INFO has it); null for other sockets. */
    notSentBytes: number | null
    /** Would the kernel accept more bytes now (poll POLLOUT, timeout 0). */
    writable: boolean | null
  }
  recv: {
    /** Receive buffer size, bytes (SO_RCVBUF via SO_MEMINFO). */
    bufferBytes: number | null
    /** Bytes waiting to be read (ioctl SIOCINQ; UDP: size of the next datagram). */
    queuedBytes: number | null
  }
  /** TCP_INFO; null for non-TCP sockets. */
  tcp: TcpInfo | null
  /** The user-space side, when a stream was passed (for http: the message's own buffer when it is writable); null for fds and UDP. */
  stream: {
    /** Bytes buffered in the stream, not yet handed to the kernel (writable.writableLength). */
    writableLength: number
    /** The stream's highWaterMark, bytes. */
    writableHighWaterMark: number
    /** write() returned false and 'drain' has not come yet. */
    writableNeedDrain: boolean
  } | null
  /**
   * A listener's accept queue: `length` connections waiting for accept(), `backlog` its limit
   * (TCP: tcpi_unacked / tcpi_sacked of a listener; unix: unix_diag UNIX_DIAG_RQLEN — ss -l's
   * Recv-Q and Send-Q). null for other sockets, or when the kernel refused it.
   */
  acceptQueue: { length: number, backlog: number } | null
  verdict: SocketVerdict
}

/**
 * The kernel's view of one socket: buffers, queues, TCP_INFO, endpoints, beside the stream's
 * own buffer, and a verdict. Accepts a net.Socket, tls.TLSSocket (the TCP socket underneath),
 * http IncomingMessage / ServerResponse / ClientRequest (their `.socket`), dgram.Socket, a
 * listening net.Server (its listening socket), or a numeric fd. Throws EBADF / ENOTSOCK (code, errno, syscall) for what is not an open socket,
 * ERR_OUT_OF_RANGE for a negative or non-integer fd, ERR_INVALID_ARG_TYPE for anything else,
 * ERR_KERNELSCOPE_SOCKET_CLOSED for a destroyed socket, ERR_KERNELSCOPE_SOCKET_NOT_CONNECTED for
 * one with no kernel socket yet (not connected, UDP not bound), ERR_KERNELSCOPE_NO_FD for a
 * stream not backed by a kernel socket.
 */
export function socketState(socketOrFd: SocketLike | number): SocketState

/**
 * What socketState() accepts besides an fd: a net.Socket / tls.TLSSocket / dgram.Socket /
 * net.Server, or an http message with a `.socket`. Typed structurally so these definitions do
 * not need @types/node.
 */
export type SocketLike = object

/** The part of a Writable (net.Socket, http.ServerResponse, …) write() and watchBackpressure() use. */
export interface WritableLike {
  write(chunk: any, encoding?: any, callback?: (error?: Error | null) => void): boolean
  on(event: string, listener: (...args: any[]) => void): unknown
  removeListener(event: string, listener: (...args: any[]) => void): unknown
  readonly writableLength: number
  readonly writableNeedDrain?: boolean
  readonly destroyed?: boolean
}

/**
 * Writes `chunk` and resolves once the stream accepted it: at once when write() returned true,
 * after 'drain' when it returned false. Calls made while a drain is awaited queue behind it in
 * order, so writableLength never exceeds the highWaterMark by more than one chunk. Rejects on
 * 'error', on 'close' before acceptance (ERR_STREAM_PREMATURE_CLOSE), and on a destroyed or
 * ended stream (ERR_STREAM_DESTROYED / ERR_STREAM_WRITE_AFTER_END).
 */
export function write(stream: WritableLike, chunk: string | Uint8Array, encoding?: string): Promise<void>

export interface BackpressureStats {
  /** write() calls since the tracker started. */
  writes: number
  /** write() calls made while an earlier write() had returned false and 'drain' had not come. */
  writesIgnoringBackpressure: number
  /** Times write() returned false (each starts a stall that ends at 'drain'). */
  stalls: number
  /** Total time from a false write() to its 'drain', ms, the ongoing stall included. */
  stalledMs: number
  /** Largest writableLength seen right after a write(), bytes. */
  maxWritableLength: number
}

export interface BackpressureTracker {
  stats(): BackpressureStats
  /** Stops counting; restores the stream's own `write` property as it was (or removes ours) and our 'drain' listener. */
  close(): void
}

/** Wraps `stream.write` to count writes that ignore backpressure; close() undoes it exactly. */
export function watchBackpressure(stream: WritableLike): BackpressureTracker

/** This process's descriptors counted by type, with its sockets' queues (fdSummary()). */
export interface FdSummary {
  /** Open descriptors: fstat of every slot of the fd table (status FDSize), or a getdents64 of /proc/self/fd when the table is much bigger than what is open; the listing's own excluded. */
  count: number
  /** Count per FdType (fstat st_mode; readlink only for anonymous inodes and once per device of regular-file mode). */
  byType: Record<FdType, number>
  /** Σ ioctl(SIOCOUTQ) over sockets that are not TCP listeners, bytes (TCP: unsent + unacknowledged). */
  sendQueueBytes: number
  /** Σ ioctl(SIOCINQ) over sockets that are not TCP listeners, bytes (received, not yet read). */
  recvQueueBytes: number
  /** IPv4/IPv6 TCP sockets (listeners included). */
  tcpSockets: number
  /** Σ tcpi_total_retrans (getsockopt TCP_INFO) over them, segments. */
  tcpTotalRetransmits: number
  /** Each TCP socket's inode and tcpi_total_retrans. */
  tcp: Array<{ inode: number, totalRetransmits: number }>
}

/**
 * What a metrics scrape needs from the descriptor table, without an inventory: no readlink
 * for files, pipes or sockets, no socket-table dump (src/fd_summary.rs). Synchronous.
 */
export function fdSummary(): FdSummary

// ---------------------------------------------------------------------------------------------
// Exporters (docs/metrics.md lists every metric with its Prometheus and OpenTelemetry names)
// ---------------------------------------------------------------------------------------------

/** The part of a prom-client Registry that prometheus() uses. */
export interface PromRegistryLike {
  registerMetric(metric: object): void
  removeSingleMetric(name: string): void
  getSingleMetric?(name: string): unknown
}

export interface PrometheusOptions {
  /** The registry (default: prom-client's global `register`, which needs prom-client installed). */
  register?: PromRegistryLike
  /** Name prefix (default 'kernelscope_'); '' or a valid metric name start. */
  prefix?: string
  /** Loop histogram bounds, seconds (default 0.0005 … 10). */
  buckets?: number[]
  /** A LoopMonitor of yours to read the loop from (kept open by close()), or false for no loop metrics; default: one made for the exporter. */
  monitor?: LoopMonitor | false
}

export interface ExporterHandle {
  /** Removes the collectors / the callback and stops the loop monitor made for them. Idempotent. */
  close(): void
}

/**
 * Adds kernelscope_* pull collectors to a prom-client registry: every value is read at scrape
 * time from one snapshot shared by all of them. Throws ERR_KERNELSCOPE_METRIC_EXISTS when a name
 * is taken (nothing is left registered), ERR_INVALID_ARG_TYPE / ERR_OUT_OF_RANGE for bad options.
 */
export function prometheus(options?: PrometheusOptions): ExporterHandle & {
  /** The family names registered. */
  metrics: string[]
  /** The same as close(). */
  unregister(): void
}

/** The part of an OpenTelemetry Meter that opentelemetry() uses. */
export interface MeterLike {
  createObservableCounter(name: string, options?: object): object
  createObservableUpDownCounter(name: string, options?: object): object
  createObservableGauge(name: string, options?: object): object
  addBatchObservableCallback(callback: (result: any) => void, observables: object[]): void
  removeBatchObservableCallback(callback: (result: any) => void, observables: object[]): void
}

export interface OpenTelemetryOptions {
  /** The Meter to register on (from @opentelemetry/api's metrics.getMeter()). */
  meter: MeterLike
  /** As in PrometheusOptions. */
  monitor?: LoopMonitor | false
}

/**
 * Registers observable instruments read in ONE batch observable callback: process.* semantic
 * conventions (process.unix.file_descriptor.count, process.thread.count,
 * process.context_switches, process.paging.faults, process.disk.io) and kernelscope.* for the rest.
 */
export function opentelemetry(options: OpenTelemetryOptions): ExporterHandle & {
  /** The instrument names registered. */
  instruments: string[]
}

/** What an explained operation waited on (docs/explain.md says which kinds are measured and which modelled). */
export type WaitKind =
  | 'tcp-connect' | 'dns' | 'fs' | 'threadpool-queue' | 'socket-read' | 'socket-write'
  | 'timer' | 'child-process' | 'event-loop-blocked' | 'cpu' | 'unattributed'

export interface BreakdownEntry {
  kind: WaitKind
  /** What was waited on: 'host:port' (tcp-connect, socket-*), a hostname (dns), a path (fs, from
   * the sampler's view of the worker's syscall), argv joined by spaces (child-process),
   * 'setTimeout N ms' (timer), "fs /tmp/x.fifo of check:disk" (threadpool-queue: what it queued
   * behind), the blocker (event-loop-blocked); null when unknown. */
  target: string | null
  /** Wall time of the operation laid on this cause, ms; every instant is on exactly one entry. */
  ms: number
  /** Requests that contributed. */
  count: number
  /** Kernel facts: synRetransmits (TCP_INFO tcpi_total_retrans at connect completion or error),
   * syscall / wchan (/proc/self/task/<tid>/syscall, wchan of the pool worker), sendQueueBytes
   * (SIOCOUTQ) / notSentBytes (SIOCOUTQNSD) / verdict (socketState) at write completion,
   * queuedBehind / reason ('pool-full' | 'getaddrinfo-cap'), blockedBy [{ by, ms }], argv, … */
  evidence: Record<string, unknown> | null
}

export interface WaterfallRequest {
  kind: WaitKind
  target: string | null
  /** ms after the operation started (hook init time). */
  startMs: number
  /** Threadpool requests: time queued before a worker took it (pool model), ms; null otherwise. */
  queueMs: number | null
  /** Time executing (pool: model start to completion; others: start to callback), ms. */
  execMs: number
  /** When its callback ran, ms after the operation started; null if it had not. */
  endMs: number | null
  evidence: Record<string, unknown> | null
}

export interface ExplainReport {
  name: string
  /** Operation wall time, ms (CLOCK_MONOTONIC). */
  wallMs: number
  outcome: 'ok' | 'error'
  /** Sorted by ms, largest first; sums to wallMs (within rounding). */
  breakdown: BreakdownEntry[]
  requests: WaterfallRequest[]
  /** Process-wide counters over the operation's window (not only this operation's); the window
   * starts at a reading at most 1 ms before the operation's start and ends at a reading at most
   * 1 ms before its end taken after its start (operations in flight together share readings). */
  kernel: {
    /** /proc/self/io syscr delta. */
    readCalls: number | null
    /** /proc/self/io syscw delta. */
    writeCalls: number | null
    /** getrusage(RUSAGE_SELF) ru_nvcsw + ru_nivcsw delta (every thread of the process). */
    contextSwitches: number | null
    /** Time this thread's loop sat in epoll_wait, ms (uv_metrics_idle_time). */
    loopWaitMs: number | null
    /** Loop iterations (prepare/check hooks). */
    loopIterations: number | null
  }
  pool: {
    /** UV_THREADPOOL_SIZE as libuv reads it (1..1024, default 4). */
    size: number
    /** floor((size + 1) / 2): getaddrinfo lookups libuv runs at once. */
    dnsConcurrencyCap: number
    /** Time within the operation all workers were busy, by the pool model, ms. */
    saturatedMs: number
  }
  /** The wait sampler over this operation; null when it could not run. */
  sampler: { intervalMs: number, samples: number, cpuMs: number | null } | null
}

export interface ExplainOptions {
  /** Wait sampler period, ms (0.5..1000, default 2). */
  intervalMs?: number
}

/** Runs `fn` and explains its wall time; never rejects because fn threw or rejected. */
export function explain<T>(name: string, fn: () => T | PromiseLike<T>, options?: ExplainOptions):
  Promise<{ value: T | undefined, error: unknown, report: ExplainReport }>

/** Runs `fn` unchanged (returns what it returns, throws what it throws) and hands the report to onReport. */
export function attribute<T>(name: string, fn: () => T, options: ExplainOptions & { onReport: (report: ExplainReport) => void }): T

// ---------------------------------------------------------------------------------------------
// HTTP middleware (docs/middleware.md); kernelscope/koa and kernelscope/fastify take the same options
// ---------------------------------------------------------------------------------------------

export interface MiddlewareLogger {
  warn?(obj: object, msg?: string): void
  info?(obj: object, msg?: string): void
}

export interface MiddlewareOptions {
  /** Requests whose explained wall time is at least this many ms are logged (default 500). */
  thresholdMs?: number
  /** pino or anything with .warn/.info (called as warn({ [field]: entry }, msg)); fastify default: request.log. */
  logger?: MiddlewareLogger
  /** Add a W3C Server-Timing header (`ks;dur=…, ks-<kind>;dur=…;desc="<target>"`); default false. */
  serverTiming?: boolean
  /** Log field, and fastify's request decorator (default 'kernelscope'). */
  field?: string
  /** 'after-slow' (default): requests are only timed until their method + path was slow once, then explained for explainForMs (the slow request that starts this is logged with breakdown null: a request's waits can only be attributed when it is explained from its start); 'always': every request explained (the cost is in bench/RESULTS.md). */
  explain?: 'after-slow' | 'always'
  /** How long a method + path stays explained after a slow request, ms (default 60000). */
  explainForMs?: number
}

/** The report of a request whose breakdown was not built: only timed ('after-slow', its path not
 * yet slow; outcome null), or explained but faster than thresholdMs without serverTiming (nobody
 * logs it, so only its wall time is kept). fastify's request.<field> holds this or an ExplainReport. */
export interface BriefRequestReport {
  name: string
  wallMs: number
  outcome: 'ok' | 'error' | null
  breakdown: null
  explained: false
}

/** The object logged under `field` for a slow request. */
export interface SlowRequestEntry {
  method: string
  /** The matched route where the framework knows it, else the path without the query. */
  route: string
  status: number
  /** Explained wall time of the request, ms. */
  wallMs: number
  /** null when the request was only timed ('after-slow', its path not yet slow). */
  outcome: 'ok' | 'error' | null
  /** The report's breakdown parts with ms > 0: kind, target, ms, kernel evidence; null when only timed. */
  breakdown: Array<{ kind: string, target: string | null, ms: number, evidence: Record<string, unknown> | null }> | null
}

/** The part of an http.IncomingMessage the middleware reads. */
export interface HttpRequestLike {
  method?: string
  url?: string
}

/** The part of an http.ServerResponse the middleware uses. */
export interface HttpResponseLike {
  statusCode: number
  readonly headersSent: boolean
  setHeader(name: string, value: string): unknown
  end(...args: any[]): unknown
  once(event: string, listener: (...args: any[]) => void): unknown
}

export interface HttpMiddleware {
  /** express / connect middleware. */
  (req: HttpRequestLike, res: HttpResponseLike, next?: (err?: unknown) => void): void
  /** A node:http request listener running `handler` inside the request's explained operation. */
  wrap<Req extends HttpRequestLike, Res extends HttpResponseLike>(handler: (req: Req, res: Res) => unknown): (req: Req, res: Res) => void
}

/** Per-request attribution for node:http, express and connect. */
export function middleware(options?: MiddlewareOptions): HttpMiddleware

/** Allow-lists for sentinel(): what is expected, so it is marked `allowed` and not alerted. */
export interface SentinelAllow {
  /** Destinations: 'a.b.c.d', 'name' (compared with the name the caller asked for),
   * 'host:port', '[v6]:port' or a subnet 'a.b.c.d/n'. */
  hosts?: string[]
  /** Programs: a name (compared with the basenames of argv[0] and the file) or an absolute path. */
  commands?: string[]
  /** Paths ('~' is the home directory): the path itself and everything below it. */
  paths?: string[]
}

export interface SentinelOptions {
  allow?: SentinelAllow
  /** Files to mark with fanotify (default: the sensitive files that exist at start: ~/.npmrc,
   * ~/.netrc, ~/.docker/config.json, files in ~/.ssh ~/.aws ~/.config/gcloud ~/.gnupg ~/.azure,
   * /etc/shadow, .env files in the working directory, …). Files created later are not watched. */
  watchPaths?: string[]
  /** How often kernel-side evidence is read (fanotify queue, own sockets), in ms. Default 1000;
   * 10..3600000. events() reads it at once. */
  intervalMs?: number
  /** Called with each event that is NOT allowed (events() returns allowed ones too). */
  onEvent?: (event: SentinelEvent) => void
}

interface SentinelEventBase {
  /** The JS stack at the call (node internals removed), newest frame first; null when the
   * evidence has no JS call behind it (native code, seen by the socket poll or fanotify alone). */
  stack: string | null
  /** Where it was seen: 'child_process channel', 'spawnSync' | 'execSync' | 'execFileSync',
   * 'net.Socket.prototype.connect', 'net.client.socket', 'undici:client:beforeConnect',
   * 'dgram.send' | 'dgram.connect', 'socket poll' (own fds + getpeername), 'fanotify',
   * 'fanotify + fs wrapper (…)', 'fs wrapper (…)' (fanotify refused: a hint only). */
  evidence: string
  /** Matched an allow-list. */
  allowed: boolean
  /** Date.now() when seen (ms). */
  time: number
}

export interface SentinelExecEvent extends SentinelEventBase {
  kind: 'exec'
  /** The program as given to spawn (or /bin/sh for a shell). */
  file: string | null
  argv: string[]
  /** The child's pid (null if spawning failed). */
  pid: number | null
}

export interface SentinelConnectEvent extends SentinelEventBase {
  kind: 'connect'
  /** The name asked for (null when only the address is known). */
  host: string | null
  /** The IP address (null until a name is resolved). */
  address: string | null
  port: number
  family: 'inet' | 'inet6' | null
  protocol: 'tcp' | 'udp' | 'other'
  /** For 'socket poll': the descriptor. */
  fd?: number
}

export interface SentinelOpenEvent extends SentinelEventBase {
  kind: 'open'
  /** Absolute path opened. */
  path: string
  /** The opener's pid: ours; null when fanotify reports another process (pid hidden from an
   * unprivileged listener). */
  pid: number | null
}

export type SentinelEvent = SentinelExecEvent | SentinelConnectEvent | SentinelOpenEvent

export interface Sentinel {
  /** Every event so far, oldest first (at most 10,000 kept); queued kernel evidence is read first. */
  events(): SentinelEvent[]
  /** Removes every wrapper, channel subscription, fanotify mark and the timer. Idempotent. */
  close(): void
  /** Whether fanotify marks are in place (ok) or why not (error: e.g. 'EPERM: …'); unmarked:
   * watched paths that could not be marked. */
  readonly fanotify: { ok: boolean, error: string | null, unmarked?: string[] }
}

/**
 * Watches this process's own behaviour, in-process and unprivileged: child processes, outbound
 * connections, opens of sensitive files. What it cannot see (what a child does, a native
 * connection opened and closed between polls, io_uring) is in docs/sentinel.md; for assurance
 * run the command under `kernelscope audit`. Starts a timer (unref'd) until close().
 */
export function sentinel(options?: SentinelOptions): Sentinel
