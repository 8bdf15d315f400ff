//! Process-wide calls: resource usage and limits, ids, the clock, sysconf, reading our own
//! memory.

use super::{byte_count, SysResult};
use crate::error::last_errno;

pub struct Rusage {
    pub user_us: f64,
    pub system_us: f64,
    pub minflt: f64,
    pub majflt: f64,
    pub nvcsw: f64,
    pub nivcsw: f64,
    pub maxrss_kb: f64,
}

/// getrusage(RUSAGE_SELF): the whole process, all threads, live and exited.
pub fn rusage_self() -> SysResult<Rusage> {
    // SAFETY: rusage is plain old data; all-zero is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: ru is a valid, writable rusage for the duration of the call.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    if rc != 0 {
        return Err(last_errno());
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 * 1e6 + t.tv_usec as f64;
    Ok(Rusage {
        user_us: tv(ru.ru_utime),
        system_us: tv(ru.ru_stime),
        minflt: ru.ru_minflt as f64,
        majflt: ru.ru_majflt as f64,
        nvcsw: ru.ru_nvcsw as f64,
        nivcsw: ru.ru_nivcsw as f64,
        maxrss_kb: ru.ru_maxrss as f64,
    })
}

/// getrlimit(RLIMIT_NOFILE) as (soft, hard); RLIM_INFINITY becomes f64::INFINITY.
pub fn nofile_limits() -> SysResult<(f64, f64)> {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: rl is a valid, writable rlimit for the duration of the call.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) };
    if rc != 0 {
        return Err(last_errno());
    }
    let conv = |v: libc::rlim_t| {
        if v == libc::RLIM_INFINITY {
            f64::INFINITY
        } else {
            v as f64
        }
    };
    Ok((conv(rl.rlim_cur), conv(rl.rlim_max)))
}

/// CLOCK_MONOTONIC in milliseconds: the clock behind process.hrtime() (libuv's uv_hrtime).
/// CLOCK_MONOTONIC in nanoseconds: the clock behind process.hrtime() (libuv's uv_hrtime) and
/// the one clock kernelscope reads.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// monotonic_ns() in milliseconds.
pub fn monotonic_ms() -> f64 {
    monotonic_ns() as f64 / 1e6
}

/// CPU time the calling thread has used, in milliseconds (CLOCK_THREAD_CPUTIME_ID).
pub fn thread_cpu_ms() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid, writable timespec; the per-thread CPU clock exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 * 1e3 + ts.tv_nsec as f64 / 1e6
}

/// The CPU-time clock of the calling thread, readable from any thread of the process
/// (pthread_getcpuclockid); None where it cannot be had.
pub fn own_thread_cpu_clock() -> Option<libc::clockid_t> {
    let mut id: libc::clockid_t = 0;
    // SAFETY: pthread_self has no preconditions and cannot fail.
    let me = unsafe { libc::pthread_self() };
    // SAFETY: `me` is the calling, live thread; id is a valid, writable clockid_t.
    let rc = unsafe { libc::pthread_getcpuclockid(me, &mut id) };
    (rc == 0).then_some(id)
}

/// A clock's time in milliseconds; None when the clock is not (or no longer) valid, e.g. the
/// CPU clock of a thread that has exited.
pub fn clock_ms(clock: libc::clockid_t) -> Option<f64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid, writable timespec; an invalid clock id makes clock_gettime fail
    // with EINVAL, nothing else.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    (rc == 0).then(|| ts.tv_sec as f64 * 1e3 + ts.tv_nsec as f64 / 1e6)
}

/// Whether threads (or processes) `a` and `b` share one descriptor table: kcmp(2) with
/// KCMP_FILES. None where the kernel cannot tell us (no kcmp, refused, a task gone).
pub fn same_fd_table(a: i32, b: i32) -> Option<bool> {
    const KCMP_FILES: libc::c_long = 2;
    // SAFETY: kcmp takes two pids, a type and two indices unused for KCMP_FILES; it reads
    // nothing of ours.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_kcmp,
            libc::c_long::from(a),
            libc::c_long::from(b),
            KCMP_FILES,
            0 as libc::c_long,
            0 as libc::c_long,
        )
    };
    match rc {
        0 => Some(true),
        1..=3 => Some(false),
        _ => None,
    }
}

pub fn getpid() -> i32 {
    // SAFETY: getpid has no preconditions and cannot fail.
    unsafe { libc::getpid() }
}

pub fn gettid() -> i32 {
    // SAFETY: gettid has no preconditions and cannot fail.
    unsafe { libc::gettid() }
}

pub fn page_size() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let v = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if v > 0 {
        v as f64
    } else {
        4096.0
    }
}

pub fn clock_ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let v = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if v > 0 {
        v as f64
    } else {
        100.0
    }
}

/// Copies bytes from this process's own address space at `addr` with process_vm_readv, which
/// fails with EFAULT on an unmapped address instead of faulting. Returns bytes copied (a short
/// count when the range runs into an unmapped page).
pub fn read_own_memory(addr: u64, buf: &mut [u8]) -> SysResult<usize> {
    read_process_memory(getpid(), addr, buf)
}

/// The same from another process's address space (the kernel's ptrace access check applies:
/// same user or CAP_SYS_PTRACE; EPERM otherwise).
pub fn read_process_memory(pid: i32, addr: u64, buf: &mut [u8]) -> SysResult<usize> {
    if addr == 0 {
        return Err(libc::EFAULT);
    }
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let remote = libc::iovec {
        iov_base: addr as usize as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // SAFETY: local describes buf, which is writable for its length; the remote range is only
    // read by the kernel, which checks it and returns EFAULT rather than faulting.
    let n = unsafe { libc::process_vm_readv(pid, &local, 1, &remote, 1, 0) };
    byte_count(n)
}
