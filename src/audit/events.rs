//! What an audit produces: the tracer's configuration, the events it records (execs, connects,
//! opens), the processes of the traced tree and the outcome the JS thread reads.

use std::collections::HashMap;
use std::time::Instant;

use super::decode::{Dest, Sensitive};

pub struct Config {
    pub strict: bool,
    pub sensitive: Sensitive,
    pub max_events: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Exec,
    Connect,
    Open,
}

#[derive(Debug, Clone)]
pub struct Event {
    pub kind: EventKind,
    pub syscall: &'static str,
    pub pid: i32,
    pub tid: i32,
    pub time_ms: f64,
    pub path: Option<Vec<u8>>,
    pub raw_path: Option<Vec<u8>>,
    pub target: Option<Vec<u8>>,
    pub flags: Option<u32>,
    pub dest: Option<Dest>,
    pub argv: Option<Vec<Vec<u8>>>,
    pub cwd: Option<Vec<u8>>,
    pub exe: Option<Vec<u8>>,
    pub former_tid: Option<i32>,
    pub result: Option<i64>,
    pub evidence: &'static str,
}

impl Event {
    pub(super) fn new(
        kind: EventKind,
        syscall: &'static str,
        pid: i32,
        tid: i32,
        time_ms: f64,
        evidence: &'static str,
    ) -> Event {
        Event {
            kind,
            syscall,
            pid,
            tid,
            time_ms,
            path: None,
            raw_path: None,
            target: None,
            flags: None,
            dest: None,
            argv: None,
            cwd: None,
            exe: None,
            former_tid: None,
            result: None,
            evidence,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Proc {
    pub pid: i32,
    pub ppid: Option<i32>,
    pub argv: Vec<Vec<u8>>,
    pub exe: Option<Vec<u8>>,
    pub package: Option<Vec<u8>>,
    pub lifecycle: Option<Vec<u8>>,
    pub start_ms: f64,
    pub end_ms: Option<f64>,
    pub status: Option<i32>,
    pub signal: Option<i32>,
    pub execs: u32,
}

#[derive(Debug, Default)]
pub struct Outcome {
    pub status: Option<i32>,
    pub signal: Option<i32>,
    pub core_dumped: bool,
    /// (stage, errno) when the child never reached the command (see sys::trace STAGE_*).
    pub exec_failure: Option<(u32, i32)>,
    pub error: Option<String>,
    pub events: Vec<Event>,
    pub procs: Vec<Proc>,
    pub stops: f64,
    pub dropped: f64,
    pub elapsed_ms: f64,
}

/// What the JS thread may look at while the tracer runs.
#[derive(Default)]
pub struct Shared {
    pub outcome: Option<Outcome>,
    /// When the root last got each signal from the kernel itself (a terminal's ^C, hangup):
    /// such a signal reached the command directly and must not be forwarded a second time.
    pub kernel_signal_at: HashMap<i32, Instant>,
    pub finished: bool,
}
