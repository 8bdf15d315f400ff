//! The one place that starts kernelscope threads: each is named (`kernelscope-…`, what `top -H`
//! and /proc/<pid>/task/<tid>/comm show), runs with panics caught (a bug in kernelscope ends
//! at most the job it was in, never the thread's later jobs) and is started anew in a forked child
//! (fork(2) copies only the calling thread: a child has our statics but not our threads).
//!
//! How to start a thread:
//! - a thread serving jobs sent to it, started on first use and kept: a `static` [`Service`]
//!   (`static S: Service<Job> = Service::new("kernelscope-xyz", serve_one);`), then
//!   `S.handle()` gives a sender (and the thread's tid) for this process, starting the thread
//!   when there is none: on first use, in a forked child, or after the thread ended.
//! - any other thread (a sampler loop, a one-off): [`spawn_named`]. A thread that must run
//!   while something is in flight keeps the pid it was started in ([`crate::sys::getpid`])
//!   next to its handle and starts anew when the pid differs, as `Service` does.
//!
//! The name must start with "kernelscope-" and fit the kernel's 15 bytes of comm (longer
//! names are cut by the kernel, not refused).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use crate::sys;

/// Starts a thread named `name` running `f` with panics caught (a panic ends the thread
/// quietly). Err when no thread can be started (limits, memory): callers fall back to doing
/// the work on the calling thread.
pub fn spawn_named<F>(name: &str, f: F) -> std::io::Result<()>
where
    F: FnOnce() + Send + 'static,
{
    debug_assert!(name.starts_with("kernelscope-"), "{name}");
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let _ = catch_unwind(AssertUnwindSafe(f));
        })
        .map(drop)
}

/// A thread that serves jobs of type `J`, one at a time in the order they are sent, each
/// with panics caught. Started on first [`Service::handle`] and kept; started again in a
/// forked child or when the thread has ended.
pub struct Service<J: Send + 'static> {
    name: &'static str,
    serve: fn(J),
    running: Mutex<Option<Running<J>>>,
}

struct Running<J> {
    tx: mpsc::Sender<J>,
    tid: i32,
    /// The process the thread was started in.
    pid: i32,
    /// Cleared when the thread's loop ends.
    alive: Arc<AtomicBool>,
}

/// A way to a running service thread of this process.
pub struct Handle<J> {
    pub tx: mpsc::Sender<J>,
    /// The thread's id (for /proc/self/task/<tid>).
    pub tid: i32,
}

/// Clears the flag when dropped: on the thread's way out, however it ends.
struct ClearOnDrop(Arc<AtomicBool>);

impl Drop for ClearOnDrop {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl<J: Send + 'static> Service<J> {
    pub const fn new(name: &'static str, serve: fn(J)) -> Service<J> {
        Service {
            name,
            serve,
            running: Mutex::new(None),
        }
    }

    /// The sender and tid of this process's thread, starting it if needed; None when no
    /// thread can be started.
    pub fn handle(&self) -> Option<Handle<J>> {
        let mut guard = self.running.lock().unwrap_or_else(|p| p.into_inner());
        let pid = sys::getpid();
        let usable = guard
            .as_ref()
            .is_some_and(|r| r.pid == pid && r.alive.load(Ordering::Acquire));
        if !usable {
            *guard = self.start(pid);
        }
        guard.as_ref().map(|r| Handle {
            tx: r.tx.clone(),
            tid: r.tid,
        })
    }

    /// Sends `job` to the thread (starting it if needed); Err(job) when no thread can run it.
    pub fn submit(&self, job: J) -> Result<(), J> {
        let job = match self.handle() {
            Some(h) => match h.tx.send(job) {
                Ok(()) => return Ok(()),
                Err(mpsc::SendError(job)) => job,
            },
            None => return Err(job),
        };
        // the thread ended between the check and the send: one fresh start
        let h = {
            let mut guard = self.running.lock().unwrap_or_else(|p| p.into_inner());
            *guard = self.start(sys::getpid());
            guard.as_ref().map(|r| r.tx.clone())
        };
        match h {
            Some(tx) => tx.send(job).map_err(|mpsc::SendError(job)| job),
            None => Err(job),
        }
    }

    fn start(&self, pid: i32) -> Option<Running<J>> {
        let (tx, rx) = mpsc::channel::<J>();
        let (tid_tx, tid_rx) = mpsc::sync_channel::<i32>(1);
        let alive = Arc::new(AtomicBool::new(true));
        let flag = ClearOnDrop(Arc::clone(&alive));
        let serve = self.serve;
        spawn_named(self.name, move || {
            let _flag = flag;
            if tid_tx.send(sys::gettid()).is_err() {
                return;
            }
            while let Ok(job) = rx.recv() {
                // a panic in one job must not take the thread (and every later job) with it
                let _ = catch_unwind(AssertUnwindSafe(|| serve(job)));
            }
        })
        .ok()?;
        let tid = tid_rx.recv().ok()?;
        Some(Running {
            tx,
            tid,
            pid,
            alive,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    type Reply = mpsc::Sender<String>;

    fn name_of_thread(reply: Reply) {
        let name = std::thread::current().name().unwrap_or("").to_string();
        let _ = reply.send(name);
    }

    fn panics(_: Reply) {
        panic!("a bug in a job");
    }

    static NAMED: Service<Reply> = Service::new("kernelscope-tst", name_of_thread);
    static PANICKY: Service<Reply> = Service::new("kernelscope-tsp", panics);

    #[test]
    fn jobs_run_on_the_named_thread() {
        let (tx, rx) = mpsc::channel();
        assert!(NAMED.submit(tx).is_ok());
        let name = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(name, "kernelscope-tst");
        let comm = std::fs::read_to_string(format!(
            "/proc/self/task/{}/comm",
            NAMED.handle().unwrap().tid
        ))
        .unwrap();
        assert_eq!(comm.trim_end(), "kernelscope-tst");
    }

    #[test]
    fn a_panicking_job_leaves_the_thread_serving() {
        let tid = PANICKY.handle().unwrap().tid;
        for _ in 0..3 {
            let (tx, rx) = mpsc::channel::<String>();
            assert!(PANICKY.submit(tx).is_ok());
            // the job's sender is dropped by the unwinding: the receiver sees the end
            assert!(rx.recv_timeout(Duration::from_secs(10)).is_err());
        }
        assert_eq!(PANICKY.handle().unwrap().tid, tid, "same thread");
    }

    /// fork(2) in a test binary: the child has NAMED's statics but not its thread, and must
    /// still get its job done (by a thread started anew). The child reports by exit code.
    // Ignored in the default run: `cargo test` runs tests on several threads, and a fork(2)
    // taken while another test thread holds a lock (stdout, an allocator arena, a channel)
    // leaves the child blocked on it forever (seen: the child hung for minutes in CI). Run it
    // alone: `cargo test --release --lib -- --ignored --test-threads=1 forked_child`.
    #[test]
    #[ignore = "fork(2) in a multithreaded test harness can deadlock the child; run alone with --test-threads=1"]
    fn a_forked_child_gets_its_own_thread() {
        let (tx, rx) = mpsc::channel();
        assert!(NAMED.submit(tx).is_ok());
        rx.recv_timeout(Duration::from_secs(10)).unwrap();
        let parent_tid = NAMED.handle().unwrap().tid;
        let status = crate::sys::fork_and_wait(|| {
            let (tx, rx) = mpsc::channel();
            if NAMED.submit(tx).is_err() {
                return 2;
            }
            match rx.recv_timeout(Duration::from_secs(10)) {
                Ok(name) if name == "kernelscope-tst" => {}
                _ => return 3,
            }
            match NAMED.handle() {
                Some(h) if h.tid != parent_tid && h.tid == crate::sys::gettid() => 4,
                Some(h) if h.tid != parent_tid => 0,
                _ => 5,
            }
        });
        assert_eq!(status, Some(0));
    }
}
