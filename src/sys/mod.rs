//! The only place with `unsafe` libc calls (and, in uv.rs and napi.rs, the libuv and napi
//! ones). Each wrapper does one thing, returns `Err(errno)` on failure and never panics.
//! By kind: fs.rs (files, directories, links), net.rs (sockets), process.rs (the process,
//! its ids and clock), uv.rs (libuv loop hooks), napi.rs (typed-array views), fd_gate.rs
//! (our own descriptors kept out of fds() walks of our own table).

use crate::error::last_errno;

pub mod fd_gate;
mod fs;
pub mod napi;
mod net;
mod process;
pub mod trace;
pub mod uv;
pub mod watch;

pub use fs::*;
pub use net::*;
pub use process::*;

pub type SysResult<T> = Result<T, i32>;

/// The byte count a read-like call returned, or the errno behind its -1.
fn byte_count<N: TryInto<usize>>(n: N) -> SysResult<usize> {
    n.try_into().map_err(|_| last_errno())
}

/// Test support: runs `child` in a fork(2)ed child of this (multithreaded) test process and
/// returns its exit code (None when it did not exit normally or fork failed). The child ends
/// with _exit, so it runs no destructor or atexit handler of the parent's state.
#[cfg(test)]
pub fn fork_and_wait(child: impl FnOnce() -> i32) -> Option<i32> {
    // SAFETY: fork has no memory-safety preconditions; the child only runs `child` (which the
    // tests keep to what is sound after fork in a glibc process: malloc and new threads are)
    // and then _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return None;
    }
    if pid == 0 {
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(child)).unwrap_or(101);
        // SAFETY: _exit ends the child at once; nothing of the parent's is left to flush.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: pid is our child; status is writable.
    let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
    (rc == pid && libc::WIFEXITED(status)).then(|| libc::WEXITSTATUS(status))
}
