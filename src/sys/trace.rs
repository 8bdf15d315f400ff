//! The unsafe room of `kernelscope audit`: fork + seccomp + exec of the traced command, and the
//! ptrace/waitpid/process_vm_readv calls its tracer makes. Raw `syscall(2)` for ptrace so glibc
//! and musl behave the same. Nothing here runs unless `kernelscope audit` asked for it.

use std::ffi::CString;
use std::os::raw::{c_char, c_int, c_long, c_void};

use crate::error::last_errno;
use crate::sys::SysResult;

pub const PTRACE_CONT: c_long = 7;
pub const PTRACE_SYSCALL: c_long = 24;
pub const PTRACE_GETEVENTMSG: c_long = 0x4201;
pub const PTRACE_GETSIGINFO: c_long = 0x4202;
pub const PTRACE_SEIZE: c_long = 0x4206;
pub const PTRACE_LISTEN: c_long = 0x4208;
pub const PTRACE_GET_SYSCALL_INFO: c_long = 0x420e;

pub const PTRACE_O_TRACESYSGOOD: c_long = 1;
pub const PTRACE_O_TRACEFORK: c_long = 1 << 1;
pub const PTRACE_O_TRACEVFORK: c_long = 1 << 2;
pub const PTRACE_O_TRACECLONE: c_long = 1 << 3;
pub const PTRACE_O_TRACEEXEC: c_long = 1 << 4;
pub const PTRACE_O_TRACESECCOMP: c_long = 1 << 7;
pub const PTRACE_O_EXITKILL: c_long = 1 << 20;

pub const PTRACE_EVENT_FORK: i32 = 1;
pub const PTRACE_EVENT_VFORK: i32 = 2;
pub const PTRACE_EVENT_CLONE: i32 = 3;
pub const PTRACE_EVENT_EXEC: i32 = 4;
pub const PTRACE_EVENT_SECCOMP: i32 = 7;
pub const PTRACE_EVENT_STOP: i32 = 128;

pub const SYSCALL_INFO_EXIT: u8 = 2;
pub const SYSCALL_INFO_SECCOMP: u8 = 3;

/// `struct ptrace_syscall_info` (linux/ptrace.h): op, 3 bytes, arch, ip, sp, then the union
/// (seccomp: nr, args[6], ret_data; exit: rval, is_error) as 8 words, enough for the largest arm.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct SyscallInfo {
    pub op: u8,
    pub reserved: [u8; 3],
    pub arch: u32,
    pub instruction_pointer: u64,
    pub stack_pointer: u64,
    pub data: [u64; 8],
}

impl SyscallInfo {
    pub fn nr(&self) -> u64 {
        self.data[0]
    }
    pub fn arg(&self, i: usize) -> u64 {
        self.data[1 + i]
    }
    /// SECCOMP_RET_DATA of the filter's verdict (the low 16 bits the filter put there).
    pub fn ret_data(&self) -> u32 {
        (self.data[7] & 0xffff_ffff) as u32
    }
    /// The return value at a syscall-exit stop.
    pub fn rval(&self) -> i64 {
        self.data[0] as i64
    }
}

/// One BPF instruction (`struct sock_filter`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SockFilter {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

#[repr(C)]
struct SockFprog {
    len: u16,
    filter: *const SockFilter,
}

/// Everything the child needs between fork and exec, prepared (allocated) before the fork so the
/// child allocates nothing: a forked copy of a multi-threaded process may hold a malloc lock.
pub struct ExecPlan {
    file: CString,
    argv: Vec<CString>,
    env: Vec<CString>,
    argv_ptrs: Vec<*const c_char>,
    env_ptrs: Vec<*const c_char>,
    filter: Vec<SockFilter>,
}

// SAFETY: the raw pointers point into the CStrings this plan owns (heap buffers that do not
// move when the plan moves); nothing else aliases them, so moving the plan to the tracer thread
// is sound.
unsafe impl Send for ExecPlan {}

impl ExecPlan {
    pub fn new(
        file: &str,
        argv: &[String],
        env: &[String],
        filter: Vec<SockFilter>,
    ) -> Option<Self> {
        let file = CString::new(file).ok()?;
        let argv: Vec<CString> = argv
            .iter()
            .map(|a| CString::new(a.as_str()).ok())
            .collect::<Option<_>>()?;
        let env: Vec<CString> = env
            .iter()
            .map(|a| CString::new(a.as_str()).ok())
            .collect::<Option<_>>()?;
        let mut argv_ptrs: Vec<*const c_char> = argv.iter().map(|a| a.as_ptr()).collect();
        argv_ptrs.push(std::ptr::null());
        let mut env_ptrs: Vec<*const c_char> = env.iter().map(|a| a.as_ptr()).collect();
        env_ptrs.push(std::ptr::null());
        Some(ExecPlan {
            file,
            argv,
            env,
            argv_ptrs,
            env_ptrs,
            filter,
        })
    }

    pub fn arg_count(&self) -> usize {
        self.argv.len() + self.env.len()
    }
}

/// The child's report when it could not reach the command: stage and errno, 8 bytes on a pipe.
pub const STAGE_NO_NEW_PRIVS: u32 = 1;
pub const STAGE_SECCOMP: u32 = 2;
pub const STAGE_EXEC: u32 = 3;

/// A forked child waiting, before its filter and exec, for the go byte on `go`.
pub struct Forked {
    pub pid: i32,
    go: c_int,
    report: c_int,
}

fn pipe_cloexec() -> SysResult<(c_int, c_int)> {
    let mut fds = [0 as c_int; 2];
    // SAFETY: fds is a valid 2-int array for pipe2 to fill.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    if r < 0 {
        Err(last_errno())
    } else {
        Ok((fds[0], fds[1]))
    }
}

pub fn close(fd: c_int) {
    // SAFETY: the caller owns fd and closes it once.
    unsafe { libc::close(fd) };
}

fn child_fail(rep_w: c_int, stage: u32, errno: i32) -> ! {
    let msg: [u32; 2] = [stage, errno as u32];
    // SAFETY: rep_w is the open write end of the report pipe; msg is 8 readable bytes.
    unsafe { libc::write(rep_w, msg.as_ptr().cast(), 8) };
    // SAFETY: _exit is async-signal-safe and ends the child without running atexit handlers.
    unsafe { libc::_exit(127) }
}

/// The child side, between fork and exec: async-signal-safe calls only, no allocation.
/// Never returns.
fn child(plan: &ExecPlan, parent: i32, go_r: c_int, go_w: c_int, rep_r: c_int, rep_w: c_int) -> ! {
    close(go_w);
    close(rep_r);
    // If the tracer thread dies before it seizes us, die too.
    // SAFETY: plain prctl with integer arguments.
    unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    // SAFETY: getppid has no preconditions.
    if unsafe { libc::getppid() } != parent {
        // SAFETY: see above.
        unsafe { libc::_exit(126) }
    }
    // The command gets our stdio even where it is marked close-on-exec (as libuv's spawn does).
    for fd in 0..3 {
        // SAFETY: fcntl on a small integer fd; a closed fd just fails with EBADF.
        unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
    }
    // Node ignores SIGPIPE and may block signals; the command must start with the defaults.
    for sig in 1..65 {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            // SAFETY: resetting a disposition to SIG_DFL is async-signal-safe; invalid numbers fail harmlessly.
            unsafe { libc::signal(sig, libc::SIG_DFL) };
        }
    }
    let mut empty = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the set it is given.
    unsafe { libc::sigemptyset(empty.as_mut_ptr()) };
    // SAFETY: empty was initialised just above; a null old-set pointer is allowed.
    unsafe { libc::sigprocmask(libc::SIG_SETMASK, empty.as_ptr(), std::ptr::null_mut()) };
    // SAFETY: plain prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        child_fail(rep_w, STAGE_NO_NEW_PRIVS, last_errno());
    }
    // Wait until the tracer has seized us: a RET_TRACE verdict with no tracer fails the call.
    let mut byte = 0u8;
    loop {
        // SAFETY: go_r is the open read end of the go pipe; byte is one writable byte.
        let n = unsafe { libc::read(go_r, (&mut byte as *mut u8).cast(), 1) };
        if n == 1 {
            break;
        }
        if n < 0 && last_errno() == libc::EINTR {
            continue;
        }
        // SAFETY: the tracer gave up (EOF): leave quietly.
        unsafe { libc::_exit(126) }
    }
    close(go_r);
    let prog = SockFprog {
        len: plan.filter.len() as u16,
        filter: plan.filter.as_ptr(),
    };
    // SAFETY: prog points at plan.filter, which outlives the call; the kernel copies it.
    let r = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER as libc::c_ulong,
            &prog as *const SockFprog as libc::c_ulong,
            0,
            0,
        )
    };
    if r != 0 {
        child_fail(rep_w, STAGE_SECCOMP, last_errno());
    }
    // SAFETY: file, argv_ptrs and env_ptrs are NUL-terminated strings / null-terminated arrays
    // owned by plan, alive until exec replaces this image.
    unsafe {
        libc::execve(
            plan.file.as_ptr(),
            plan.argv_ptrs.as_ptr(),
            plan.env_ptrs.as_ptr(),
        )
    };
    child_fail(rep_w, STAGE_EXEC, last_errno())
}

/// Forks the child that will run `plan` once `release` lets it go. The child has
/// no-new-privs set and is blocked before its seccomp filter.
pub fn fork_waiting(plan: &ExecPlan) -> SysResult<Forked> {
    let (go_r, go_w) = pipe_cloexec()?;
    let (rep_r, rep_w) = match pipe_cloexec() {
        Ok(p) => p,
        Err(e) => {
            close(go_r);
            close(go_w);
            return Err(e);
        }
    };
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };
    // SAFETY: fork is followed in the child only by async-signal-safe calls (see `child`).
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        let e = last_errno();
        for fd in [go_r, go_w, rep_r, rep_w] {
            close(fd);
        }
        return Err(e);
    }
    if pid == 0 {
        child(plan, parent, go_r, go_w, rep_r, rep_w);
    }
    close(go_r);
    close(rep_w);
    Ok(Forked {
        pid,
        go: go_w,
        report: rep_r,
    })
}

impl Forked {
    /// Lets the child install its filter and exec (`go == true`), or makes it exit (`false`).
    pub fn release(&mut self, go: bool) {
        if self.go >= 0 {
            if go {
                let b = 1u8;
                // SAFETY: self.go is the open write end of the go pipe; b is one readable byte.
                unsafe { libc::write(self.go, (&b as *const u8).cast(), 1) };
            }
            close(self.go);
            self.go = -1;
        }
    }

    /// What the child wrote before failing to reach the command, if anything (non-blocking
    /// once the child has exec'd or exited: the write end is then closed).
    pub fn failure(&mut self) -> Option<(u32, i32)> {
        if self.report < 0 {
            return None;
        }
        let mut msg = [0u32; 2];
        // SAFETY: self.report is the open read end; msg is 8 writable bytes.
        let n = unsafe { libc::read(self.report, msg.as_mut_ptr().cast(), 8) };
        close(self.report);
        self.report = -1;
        if n == 8 {
            Some((msg[0], msg[1] as i32))
        } else {
            None
        }
    }
}

impl Drop for Forked {
    fn drop(&mut self) {
        self.release(false);
        if self.report >= 0 {
            close(self.report);
        }
    }
}

fn ptrace(req: c_long, pid: i32, addr: usize, data: usize) -> SysResult<c_long> {
    // SAFETY: raw ptrace syscall; each caller passes addr/data valid for its request.
    let r = unsafe { libc::syscall(libc::SYS_ptrace, req, pid as c_long, addr, data) };
    if r < 0 {
        Err(last_errno())
    } else {
        Ok(r)
    }
}

pub fn seize(pid: i32, options: c_long) -> SysResult<()> {
    ptrace(PTRACE_SEIZE, pid, 0, options as usize).map(|_| ())
}

/// PTRACE_CONT / PTRACE_SYSCALL / PTRACE_LISTEN with a signal to deliver (0 for none).
pub fn resume(req: c_long, pid: i32, sig: i32) -> SysResult<()> {
    ptrace(req, pid, 0, sig as usize).map(|_| ())
}

pub fn event_msg(pid: i32) -> SysResult<u64> {
    let mut msg: libc::c_ulong = 0;
    ptrace(
        PTRACE_GETEVENTMSG,
        pid,
        0,
        &mut msg as *mut libc::c_ulong as usize,
    )?;
    Ok(msg as u64)
}

pub fn syscall_info(pid: i32) -> SysResult<SyscallInfo> {
    let mut info = SyscallInfo::default();
    ptrace(
        PTRACE_GET_SYSCALL_INFO,
        pid,
        std::mem::size_of::<SyscallInfo>(),
        &mut info as *mut SyscallInfo as usize,
    )?;
    Ok(info)
}

/// si_code of the signal a tracee is stopped on (SI_USER 0, SI_KERNEL 0x80, ...).
pub fn siginfo_code(pid: i32) -> SysResult<i32> {
    // siginfo_t is 128 bytes; si_code is the third int.
    let mut buf = [0i32; 32];
    ptrace(PTRACE_GETSIGINFO, pid, 0, buf.as_mut_ptr() as usize)?;
    Ok(buf[2])
}

/// waitpid(-1, __WALL): (tid, status), Err(ECHILD) when nothing is left to wait for.
pub fn wait_any() -> SysResult<(i32, i32)> {
    loop {
        let mut status: c_int = 0;
        // SAFETY: status is a valid out-pointer.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::__WALL) };
        if pid < 0 {
            let e = last_errno();
            if e == libc::EINTR {
                continue;
            }
            return Err(e);
        }
        return Ok((pid, status));
    }
}

/// Reads `buf.len()` bytes (or fewer, at an unmapped page) of another process's memory.
pub fn read_mem(pid: i32, addr: u64, buf: &mut [u8]) -> SysResult<usize> {
    if buf.is_empty() {
        return Ok(0);
    }
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast::<c_void>(),
        iov_len: buf.len(),
    };
    let remote = libc::iovec {
        iov_base: addr as usize as *mut c_void,
        iov_len: buf.len(),
    };
    // SAFETY: local describes buf, writable for its length; remote is only read by the kernel
    // from the other process's address space (faults become errors, not UB here).
    let n = unsafe { libc::process_vm_readv(pid, &local, 1, &remote, 1, 0) };
    if n < 0 {
        Err(last_errno())
    } else {
        Ok(n as usize)
    }
}

pub fn kill(pid: i32, sig: i32) -> SysResult<()> {
    // SAFETY: kill with integer arguments.
    if unsafe { libc::kill(pid, sig) } < 0 {
        Err(last_errno())
    } else {
        Ok(())
    }
}

/// readlink(2) into bytes (any byte may appear in a path).
pub fn readlink_bytes(path: &[u8]) -> SysResult<Vec<u8>> {
    let c = CString::new(path).map_err(|_| libc::EINVAL)?;
    let mut buf = vec![0u8; 4096];
    // SAFETY: c is NUL-terminated; buf is writable for buf.len() bytes.
    let n = unsafe { libc::readlink(c.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return Err(last_errno());
    }
    buf.truncate(n as usize);
    Ok(buf)
}
