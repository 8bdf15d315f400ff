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

// ---------------------------------------------------------------------------------------------
// 2. Descriptor inventory
// ---------------------------------------------------------------------------------------------

/**
 * What a descriptor is. From the /proc/<pid>/fd link text ('socket:[…]', 'pipe:[…]',
 * 'anon_inode:[eventpoll]', …) and, for paths, the file type in fstat's st_mode.
 * 'anon' is any other anonymous inode (userfaultfd, fanotify, perf_event, bpf, …); 'unknown'
 * is what neither tells (namespace fds such as 'net:[4026531833]', or an fd closed mid-scan).
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
  /** Local IP address ('127.0.0.1', '::1', '::ffff:127.0.0.1'); for unix the bound name (a path, '@name' for the abstract namespace) or null when unnamed. */
  localAddress: string | null
  /** Local port (inet_diag_sockid.idiag_sport); null for unix. */
  localPort: number | null
  /** Peer IP address ('0.0.0.0' / '::' when not connected); for unix the connected peer's bound name (UNIX_DIAG_PEER resolved in the same dump), null when the peer is unnamed or unknown (always null from /proc/net/unix). */
  remoteAddress: string | null
  /** Peer port (idiag_dport), 0 when not connected; null for unix. */
  remotePort: number | null
  /** unix: the socket's own name, else the peer's (a client of /run/app.sock shows '/run/app.sock'); null for IPv4/IPv6 and unnamed pairs. */
  path: string | null
  /**
   * TCP: bytes sent but not yet acknowledged plus not yet sent (idiag_wqueue, ss Send-Q); for a
   * listener its backlog limit. UDP: bytes in the send buffer. unix: bytes queued
   * (UNIX_DIAG_RQLEN; for a listener the backlog limit); null from /proc/net/unix.
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
   * without the readlink. null when the fd vanished before it could be read.
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
   * The descriptor vanished or changed while it was being looked at ('closed during the
   * scan', 'replaced during the scan'): reported here, never thrown. Other fields are
   * whatever was read before. null normally.
   */
  error: string | null
}

export interface FdsOptions {
  /** Resolve sockets to their endpoints, states and queues (default true; one netlink dump per family/protocol, ~2-5 ms for 2,000 sockets). */
  sockets?: boolean
  /** Also read /proc/<pid>/fdinfo/<fd> for each fd: position, flags, epoll/eventfd/timerfd/inotify details (default false; one open+read+close per fd, several times the cost). */
  fdinfo?: boolean
  /** Another process whose /proc/<pid>/fd the caller may read (default: this process). Its sockets come from netlink when it shares this network namespace, else from /proc/<pid>/net. */
  pid?: number
}

/**
 * Every open descriptor, classified, sorted by fd number. Runs on a dedicated native thread
 * ('kernelscope-fds'), not the libuv threadpool, so it answers while the pool is saturated.
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
