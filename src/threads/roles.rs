//! A role for every thread, and where the role comes from. Certain: the main thread (its tid is
//! the pid), a thread name Node or kernelscope set, a worker_threads environment kernelscope was
//! loaded in, and the libuv pool as src/threads/pool.rs knows it (threads that ran kernelscope's
//! probe task, or whose stack starts in the same function as one that did). On Node 20, where
//! every thread is called "node", the rest is read from Node's boot order and, for pool threads
//! no evidence covers (running, or their syscall file unreadable), from libuv creating its pool
//! as one run of `threadpool_size` threads in one go.

use napi_derive::napi;

use crate::layout::{role_source as source, thread_role as role};

/// What Node tells about its own threads; the JS layer fills this in.
#[derive(Debug, Clone, PartialEq, Eq)]
#[napi(object)]
pub struct RoleHints {
    /// process.versions.node major.
    pub node_major: u32,
    /// --v8-pool-size (default 4): platform worker threads started at boot.
    pub v8_pool_size: u32,
    /// process.features.inspector: a SignalInspector thread is started at boot.
    pub inspector: bool,
    /// UV_THREADPOOL_SIZE as libuv read it (default 4).
    pub threadpool_size: u32,
}

impl RoleHints {
    /// Node >= 22's libuv names its pool threads "libuv-worker": no inference needed.
    pub fn pool_named(&self) -> bool {
        self.node_major >= 22
    }

    /// Threads Node starts at boot besides the main thread.
    pub fn boot_len(&self) -> usize {
        1 + self.v8_pool_size as usize + usize::from(self.inspector)
    }
}

/// What is known of a thread's place in the libuv pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolEvidence {
    /// Nothing: it was running, or its syscall file (and so its stack pointer) was unreadable.
    Unknown,
    /// It ran kernelscope's probe task from the pool.
    Probe,
    /// Its stack starts in the function the probe's thread started in (libuv's worker loop).
    Stack,
    /// Its stack starts in another function: not a pool thread.
    NotPool,
}

/// One thread as role inference sees it.
pub struct RoleInput<'a> {
    pub tid: i32,
    pub name: &'a str,
    /// Blocked in epoll_wait/epoll_pwait: the thread runs an event loop of its own. None when
    /// its syscall is unknown.
    pub in_epoll: Option<bool>,
    /// When it started (task/<tid>/stat starttime, clock ticks after boot).
    pub start_ticks: u64,
    pub pool: PoolEvidence,
}

/// A thread's role and what it rests on (layout::role_source).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Role {
    pub role: &'static str,
    pub source: &'static str,
}

const fn r(role: &'static str, source: &'static str) -> Role {
    Role { role, source }
}

/// libuv creates its whole pool in one loop; threads started further apart than this (clock
/// ticks, 10 ms each at USER_HZ 100) are not taken as one pool by inference.
const POOL_START_TICKS: u64 = 3;

pub fn role_from_name(name: &str) -> Option<&'static str> {
    // Node 26 prefixes its names with "node-" ("node-V8Worker"); comm is cut to 15 bytes:
    // "DelayedTaskSchedulerWorker" shows as "DelayedTaskSche"
    let name = name.strip_prefix("node-").unwrap_or(name);
    if name.starts_with("DelayedTaskSche") {
        Some(role::DELAYED_TASK_SCHEDULER)
    } else if name.starts_with("V8Worker") {
        Some(role::V8_WORKER)
    } else if name == "SignalInspector" {
        Some(role::SIGNAL_INSPECTOR)
    } else if name == "libuv-worker" {
        Some(role::LIBUV_WORKER)
    } else if name == "WorkerThread" {
        Some(role::WORKER_THREAD)
    } else if name.starts_with("kernelscope") {
        // kernelscope's own helper threads (fds() runs on "kernelscope-fds"): not Node's, and
        // never a libuv worker
        Some(role::OTHER)
    } else {
        None
    }
}

/// The role of an unnamed thread started at boot, by its position among non-main threads.
fn boot_role(position: usize, hints: &RoleHints) -> &'static str {
    if position == 0 {
        role::DELAYED_TASK_SCHEDULER
    } else if position <= hints.v8_pool_size as usize {
        role::V8_WORKER
    } else {
        role::SIGNAL_INSPECTOR
    }
}

/// Assigns a role to every thread, `threads` in creation order (the order /proc/<pid>/task
/// lists them). `registered`: threads kernelscope was loaded on as a worker_threads
/// environment.
pub fn infer_roles(
    pid: i32,
    threads: &[RoleInput],
    hints: &RoleHints,
    registered: &dyn Fn(i32) -> bool,
) -> Vec<Role> {
    let mut roles: Vec<Option<Role>> = vec![None; threads.len()];
    let mut position = 0usize; // index among non-main threads
    for (i, t) in threads.iter().enumerate() {
        if t.tid == pid {
            roles[i] = Some(r(role::MAIN, source::TID));
            continue;
        }
        position += 1;
        roles[i] = Some(if registered(t.tid) {
            r(role::WORKER_THREAD, source::REGISTERED)
        } else if t.pool == PoolEvidence::Probe {
            r(role::LIBUV_WORKER, source::POOL_PROBE)
        } else if t.pool == PoolEvidence::Stack {
            r(role::LIBUV_WORKER, source::POOL_STACK)
        } else if let Some(named) = role_from_name(t.name) {
            r(named, source::NAME)
        } else if position <= hints.boot_len() {
            r(boot_role(position - 1, hints), source::BOOT_ORDER)
        } else {
            continue;
        });
    }
    if !hints.pool_named() {
        if let Some(window) = pool_window(threads, &roles, hints) {
            for i in window {
                if roles[i].is_none() {
                    roles[i] = Some(r(role::LIBUV_WORKER, source::INFERRED));
                }
            }
        }
    }
    roles
        .into_iter()
        .zip(threads)
        .map(|(role, t)| {
            role.unwrap_or(if t.in_epoll == Some(true) {
                r(role::WORKER_THREAD, source::INFERRED)
            } else {
                r(role::OTHER, source::INFERRED)
            })
        })
        .collect()
}

/// Node 20: where the pool threads no evidence covers are. libuv creates its `threadpool_size`
/// threads one after another from one thread, so the pool is a run of that many consecutive
/// threads, started within a few ticks of each other, holding every known pool thread; the
/// others in it must be undecided, not shown to be something else (another stack, an event
/// loop), and started with the known ones. Of the runs that fit, the one whose threads started
/// closest together; None when none fits or every pool thread is known.
fn pool_window(
    threads: &[RoleInput],
    roles: &[Option<Role>],
    hints: &RoleHints,
) -> Option<std::ops::Range<usize>> {
    let size = hints.threadpool_size.max(1) as usize;
    let is_known = |i: usize| roles[i].is_some_and(|x| x.role == role::LIBUV_WORKER);
    let known: Vec<usize> = (0..threads.len()).filter(|&i| is_known(i)).collect();
    if known.len() >= size || threads.len() < size {
        return None;
    }
    let starts = known.iter().map(|&i| threads[i].start_ticks);
    let (lo, hi) = (starts.clone().min(), starts.max());
    let eligible = |i: usize| {
        let t = &threads[i];
        roles[i].is_none()
            && t.pool != PoolEvidence::NotPool
            && t.in_epoll != Some(true)
            && match (lo, hi) {
                (Some(lo), Some(hi)) => {
                    t.start_ticks + POOL_START_TICKS >= lo && t.start_ticks <= hi + POOL_START_TICKS
                }
                _ => true,
            }
    };
    let mut best: Option<(u64, usize)> = None;
    for start in 0..=threads.len() - size {
        let window = start..start + size;
        let holds_known = known.iter().all(|k| window.contains(k));
        if !holds_known || !window.clone().all(|i| is_known(i) || eligible(i)) {
            continue;
        }
        let ticks = window.clone().map(|i| threads[i].start_ticks);
        let spread = ticks.clone().max().unwrap_or(0) - ticks.min().unwrap_or(0);
        if best.is_none_or(|(s, _)| spread < s) {
            best = Some((spread, start));
        }
    }
    best.map(|(_, start)| start..start + size)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hints(node_major: u32) -> RoleHints {
        RoleHints {
            node_major,
            v8_pool_size: 4,
            inspector: true,
            threadpool_size: 4,
        }
    }

    fn input(tid: i32, name: &str, in_epoll: bool) -> RoleInput<'_> {
        RoleInput {
            tid,
            name,
            in_epoll: Some(in_epoll),
            start_ticks: 100,
            pool: PoolEvidence::Unknown,
        }
    }

    fn roles_of(r: &[Role]) -> Vec<&'static str> {
        r.iter().map(|x| x.role).collect()
    }

    fn none(_: i32) -> bool {
        false
    }

    /// main, scheduler (epoll), 4 v8 workers, inspector: Node 20's boot threads.
    fn boot() -> Vec<RoleInput<'static>> {
        let mut t = vec![input(100, "node", false), input(101, "node", true)];
        t.extend((102..107).map(|tid| input(tid, "node", false)));
        t
    }

    #[test]
    fn kernelscope_threads_are_other() {
        assert_eq!(role_from_name("kernelscope-fds"), Some("other"));
        assert_eq!(role_from_name("node-V8Worker"), Some("v8-worker"));
        let t = [
            input(100, "node", false),
            input(101, "node", false),
            input(102, "node", false),
            input(103, "kernelscope-fds", false),
            input(104, "node", false),
        ];
        let h = RoleHints {
            v8_pool_size: 1,
            inspector: false,
            threadpool_size: 1,
            ..hints(20)
        };
        let r = infer_roles(100, &t, &h, &none);
        assert_eq!(
            r[3],
            Role {
                role: "other",
                source: "name"
            }
        );
        assert_eq!(
            r[4],
            Role {
                role: "libuv-worker",
                source: "inferred"
            }
        );
    }

    #[test]
    fn node20_all_named_node() {
        // captured on Node 20.20.2: boot threads, 4 libuv, 1 worker in epoll
        let mut t = boot();
        t.extend((107..111).map(|tid| input(tid, "node", false)));
        t.push(input(111, "node", true));
        let r = infer_roles(100, &t, &hints(20), &none);
        assert_eq!(
            roles_of(&r),
            [
                "main",
                "delayed-task-scheduler",
                "v8-worker",
                "v8-worker",
                "v8-worker",
                "v8-worker",
                "signal-inspector",
                "libuv-worker",
                "libuv-worker",
                "libuv-worker",
                "libuv-worker",
                "worker-thread"
            ]
        );
        assert_eq!(r[0].source, "tid");
        assert_eq!(r[1].source, "boot-order");
        assert_eq!(r[7].source, "inferred");
    }

    #[test]
    fn node20_worker_in_futex_before_pool_started_earlier() {
        // the case issue 11 found: a worker_thread parked in Atomics.wait (futex, not epoll)
        // before the pool starts. Started 36 ticks before the pool, it is not taken into it
        let mut t = boot();
        t.push(RoleInput {
            start_ticks: 64,
            ..input(107, "node", false)
        });
        t.extend((108..112).map(|tid| input(tid, "node", false)));
        let r = infer_roles(100, &t, &hints(20), &none);
        assert_eq!(
            &roles_of(&r)[7..],
            [
                "other",
                "libuv-worker",
                "libuv-worker",
                "libuv-worker",
                "libuv-worker"
            ]
        );
    }

    #[test]
    fn node20_pool_evidence_wins_and_excludes() {
        // the worker started in the same tick as the pool: only evidence tells them apart.
        // Three pool threads ran the probe, the worker's stack starts elsewhere, and the
        // thread blocked in openat is the one left in the run
        let mut t = boot();
        t.push(RoleInput {
            pool: PoolEvidence::NotPool,
            ..input(107, "node", false)
        });
        t.push(input(108, "node", false));
        for tid in 109..112 {
            t.push(RoleInput {
                pool: PoolEvidence::Probe,
                ..input(tid, "node", false)
            });
        }
        let r = infer_roles(100, &t, &hints(20), &none);
        assert_eq!(
            &roles_of(&r)[7..],
            [
                "other",
                "libuv-worker",
                "libuv-worker",
                "libuv-worker",
                "libuv-worker"
            ]
        );
        assert_eq!(r[8].source, "inferred");
        assert_eq!(r[9].source, "pool-probe");
        // the same with the last pool thread unknown: the run extends the other way
        let mut t = boot();
        t.push(RoleInput {
            pool: PoolEvidence::NotPool,
            ..input(107, "node", false)
        });
        for tid in 108..111 {
            t.push(RoleInput {
                pool: PoolEvidence::Stack,
                ..input(tid, "node", false)
            });
        }
        t.push(input(111, "node", false));
        let r = infer_roles(100, &t, &hints(20), &none);
        assert_eq!(r[7].role, "other");
        assert_eq!(
            r[8],
            Role {
                role: "libuv-worker",
                source: "pool-stack"
            }
        );
        assert_eq!(
            r[11],
            Role {
                role: "libuv-worker",
                source: "inferred"
            }
        );
    }

    #[test]
    fn node20_unknown_syscalls_and_a_known_pool() {
        // syscall files unreadable (in_epoll unknown), three pool threads known by the probe,
        // the fourth not there: the only run of four would take a worker started 60 ticks
        // before them, which its start time rules out
        let mut t = boot();
        t.push(RoleInput {
            in_epoll: None,
            start_ticks: 40,
            ..input(107, "node", false)
        });
        for tid in 108..111 {
            t.push(RoleInput {
                in_epoll: None,
                pool: PoolEvidence::Probe,
                ..input(tid, "node", false)
            });
        }
        let r = infer_roles(100, &t, &hints(20), &none);
        assert_eq!(
            &roles_of(&r)[7..],
            ["other", "libuv-worker", "libuv-worker", "libuv-worker"]
        );
        // started with them, the unknown thread completes the run
        t[7].start_ticks = 99;
        let r = infer_roles(100, &t, &hints(20), &none);
        assert_eq!(
            r[7],
            Role {
                role: "libuv-worker",
                source: "inferred"
            }
        );
        // when every pool thread is known, nothing more is inferred
        let mut t = boot();
        t.push(RoleInput {
            in_epoll: None,
            ..input(107, "node", false)
        });
        for tid in 108..112 {
            t.push(RoleInput {
                pool: PoolEvidence::Probe,
                ..input(tid, "node", false)
            });
        }
        let r = infer_roles(100, &t, &hints(20), &none);
        assert_eq!(
            r[7],
            Role {
                role: "other",
                source: "inferred"
            }
        );
    }

    #[test]
    fn node20_no_run_fits_no_guess() {
        // a pool smaller than UV_THREADPOOL_SIZE says (the variable changed after libuv read
        // it): no run of 4 fits, so no unnamed thread is called a libuv worker
        let mut t = boot();
        t.push(input(107, "node", false));
        t.push(input(108, "node", true));
        t.push(input(109, "node", false));
        let r = infer_roles(100, &t, &hints(20), &none);
        assert_eq!(&roles_of(&r)[7..], ["other", "worker-thread", "other"]);
    }

    #[test]
    fn node22_partial_names_and_registered() {
        let t = [
            input(100, "node", false),
            input(101, "DelayedTaskSche", true),
            input(102, "node", false),
            input(103, "node", false),
            input(104, "node", false),
            input(105, "node", false),
            input(106, "node", false),
            input(107, "libuv-worker", false),
            input(108, "node", false),
            input(109, "node", false),
        ];
        let r = infer_roles(100, &t, &hints(22), &|tid| tid == 109);
        assert_eq!(
            r[1],
            Role {
                role: "delayed-task-scheduler",
                source: "name"
            }
        );
        assert_eq!(r[5].role, "v8-worker");
        assert_eq!(r[6].role, "signal-inspector");
        assert_eq!(
            r[7],
            Role {
                role: "libuv-worker",
                source: "name"
            }
        );
        assert_eq!(r[8].role, "other");
        assert_eq!(
            r[9],
            Role {
                role: "worker-thread",
                source: "registered"
            }
        );
    }

    #[test]
    fn node24_names() {
        let t = [
            input(100, "MainThread", false),
            input(101, "DelayedTaskSche", true),
            input(102, "V8Worker", false),
            input(103, "SignalInspector", false),
            input(104, "libuv-worker", false),
            input(105, "WorkerThread", true),
        ];
        let h = RoleHints {
            v8_pool_size: 1,
            ..hints(24)
        };
        let r = infer_roles(100, &t, &h, &none);
        assert_eq!(
            roles_of(&r),
            [
                "main",
                "delayed-task-scheduler",
                "v8-worker",
                "signal-inspector",
                "libuv-worker",
                "worker-thread"
            ]
        );
        assert!(r[1..].iter().all(|x| x.source == "name"));
    }
}
