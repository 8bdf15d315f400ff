//! Every packed layout that crosses to JS, declared once: the Rust writers use the constants,
//! and `layouts()` exports names, positions and enum strings to lib/layout.js, which the JS
//! readers ask by name at load (a reader asking for a name that is not here throws, and
//! __test__/layout.test.js checks both sides read exactly the same names).
//!
//! Adding a layout (the sampler's ring buffer, say):
//! 1. declare it here with `slots!` (Float64Array positions) or `flags!` (bit values);
//! 2. add one line for it in `exported()`;
//! 3. in JS: `const R = layout('ring', ['AT_MS', ...])` (lib/layout.js) and read `b[R.AT_MS]`;
//!    the test then covers it with no more work.

use std::fmt::Write as _;

use napi_derive::napi;

use crate::parse::fdinfo::TYPE_NAMES;
use crate::parse::tcp_info;

/// Declares a layout of consecutive slots: `pub mod name { pub const A: usize = 0; ...;
/// pub const LEN; pub const NAMES }`.
macro_rules! slots {
    ($(#[$doc:meta])* $name:ident { $($(#[$sdoc:meta])* $slot:ident),+ $(,)? }) => {
        $(#[$doc])*
        pub mod $name {
            #[allow(non_camel_case_types, clippy::upper_case_acronyms, dead_code)]
            #[repr(usize)]
            enum Index { $($slot),+, __LEN }
            $($(#[$sdoc])* pub const $slot: usize = Index::$slot as usize;)+
            /// Number of slots.
            pub const LEN: usize = Index::__LEN as usize;
            /// Slot names in position order.
            pub const NAMES: &[&str] = &[$(stringify!($slot)),+];
        }
    };
}

/// Declares bit values: `pub mod name { pub const A: u32 = 1; ...; pub const ALL }`.
macro_rules! flags {
    ($(#[$doc:meta])* $name:ident { $($(#[$fdoc:meta])* $flag:ident = $v:expr),+ $(,)? }) => {
        $(#[$doc])*
        pub mod $name {
            $($(#[$fdoc])* pub const $flag: u32 = $v;)+
            /// Every flag with its value.
            pub const ALL: &[(&str, u32)] = &[$((stringify!($flag), $flag)),+];
        }
    };
}

slots! {
    /// sample(): the process snapshot buffer (src/process.rs writes, lib/probes/process.js reads).
    process {
        PID, AT_MS, USER_MS, SYSTEM_MS, VOLUNTARY, INVOLUNTARY, MINOR, MAJOR,
        RSS, VIRTUAL, PEAK_RSS, RSS_ANON, RSS_FILE,
        READ_CALLS, WRITE_CALLS, READ_CHARS, WRITE_CHARS, READ_BYTES, WRITE_BYTES,
        CANCELLED_WRITE_BYTES, RUN_MS, RUNQUEUE_WAIT_MS, TIMESLICES, THREADS, FD_SOFT, FD_HARD,
    }
}

slots! {
    /// fds(): the numeric columns of one descriptor in `nums`.
    fds_col {
        FD, TYPE, INODE, BITS, LOCAL_PORT, REMOTE_PORT, SEND_Q, RECV_Q,
    }
}

flags! {
    /// fds(): bits of fds_col::BITS, which optional strings a record has. In `text`, after the
    /// target: ERROR. In `extra`, in this order: LATE_ERROR, SOCKET (fds_socket::LEN strings),
    /// SOCKET_ERROR, FDINFO.
    fds_bit {
        /// error text (from the scan)
        ERROR = 1,
        /// socket details: the strings of fds_socket
        SOCKET = 2,
        /// why the socket is not resolved
        SOCKET_ERROR = 4,
        /// fdinfo details as one JSON object
        FDINFO = 8,
        /// error text found after the scan (the fdinfo read saw the number closed or reused)
        LATE_ERROR = 16,
    }
}

slots! {
    /// fds(): the strings of a socket's details in `extra`, in order.
    fds_socket {
        FAMILY, PROTOCOL, STATE, LOCAL_ADDRESS, REMOTE_ADDRESS, PATH,
    }
}

/// A string channel: how a list of strings crosses to JS whatever bytes they hold (NULs,
/// newlines, anything a name or path can carry). The strings are concatenated in `text`, with
/// no separator, and `lens` holds each one's length in UTF-16 code units (what a JS string is
/// sliced by), or STR_NULL for a null. lib/layout.js `strings()` is the one reader. Bytes that
/// are not UTF-8 were replaced by U+FFFD before they got here (as Node's `fs.readlinkSync()`
/// decodes them).
///
/// fds() has two: `text` (target and scan error of each descriptor) and `extra` (what
/// fds_bit announces).
#[derive(Debug, Default)]
pub struct Strings {
    pub text: String,
    pub lens: Vec<i32>,
}

/// The length in `Strings::lens` of a null string.
pub const STR_NULL: i32 = -1;

impl Strings {
    pub fn with_capacity(strings: usize, bytes: usize) -> Strings {
        Strings {
            text: String::with_capacity(bytes),
            lens: Vec::with_capacity(strings),
        }
    }

    /// Appends one string (None: a null).
    pub fn push(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.push_with(|t| t.push_str(s)),
            None => self.lens.push(STR_NULL),
        }
    }

    /// Appends, as one string, whatever `write` appends to the text (to format in place).
    pub fn push_with(&mut self, write: impl FnOnce(&mut String)) {
        let start = self.text.len();
        write(&mut self.text);
        let added = &self.text[start..];
        let units = if added.is_ascii() {
            added.len()
        } else {
            added.chars().map(char::len_utf16).sum()
        };
        // a JS string is far shorter than i32::MAX units (V8: 2^29 - 24)
        self.lens.push(i32::try_from(units).unwrap_or(i32::MAX));
    }

    /// Appends another channel's strings after these.
    pub fn append(&mut self, other: &Strings) {
        self.text.push_str(&other.text);
        self.lens.extend_from_slice(&other.lens);
    }

    pub fn len(&self) -> usize {
        self.lens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lens.is_empty()
    }

    /// The strings in order, read back the way lib/layout.js reads them (for tests).
    pub fn to_vec(&self) -> Vec<Option<String>> {
        let units: Vec<u16> = self.text.encode_utf16().collect();
        let mut at = 0;
        self.lens
            .iter()
            .map(|&n| {
                let n = usize::try_from(n).ok()?;
                let s = String::from_utf16_lossy(&units[at..at + n]);
                at += n;
                Some(s)
            })
            .collect()
    }
}

slots! {
    /// socketState(): the state buffer's fixed part; tcp_info::FIELDS follow from `LEN` on
    /// (exported as TCP, with LEN the whole buffer).
    socket {
        FAMILY, TYPE, PROTOCOL, LOCAL_PORT, REMOTE_PORT, HAS_LOCAL, HAS_REMOTE, LISTENING,
        SNDBUF, RCVBUF, OUTQ, OUTQNSD, INQ, WRITABLE, TCP_INFO_BYTES,
    }
}

/// socketState(): first TCP_INFO slot, tcp_info::FIELDS.len() of them in FIELDS order.
pub const SOCKET_TCP: usize = socket::LEN;

/// socketState(): length of the whole state buffer.
pub const fn socket_len() -> usize {
    SOCKET_TCP + tcp_info::FIELDS.len()
}

slots! {
    /// LoopMonitor.history(): one iteration (NaN = null).
    loop_history {
        AT_MS, TIMEOUT_MS, WAIT_MS, EVENTS, POLL_MS, ITERATION_MS,
    }
}

slots! {
    /// fdSummary(): the head of the summary (src/fd_summary.rs). After it, from `LEN`, one count
    /// per descriptor type in `fdTypes` order, then one (inode, tcpi_total_retrans) pair per TCP
    /// socket to the end of the buffer.
    fd_summary {
        /// descriptors listed
        COUNT,
        /// Σ SIOCOUTQ over sockets that are not TCP listeners
        SEND_Q,
        /// Σ SIOCINQ over them
        RECV_Q,
        /// TCP sockets seen (listeners included)
        TCP_SOCKETS,
        /// Σ tcpi_total_retrans over them
        TCP_RETRANS,
    }
}

/// fdSummary(): where the per-type counts start, and where the TCP pairs start.
pub const FD_SUMMARY_TYPES: usize = fd_summary::LEN;
pub const FD_SUMMARY_PAIRS: usize = FD_SUMMARY_TYPES + TYPE_NAMES.len();

slots! {
    /// The wait sampler's drain (src/sampler): one episode, a thread seen in one unchanged wait.
    /// ROLE 0 = a loop thread, 1 = a libuv pool worker; STATE indexes THREAD_STATES; NR is -1
    /// when running; NAME (the syscall's) / TARGET / WCHAN index the drained string table, -1 for none.
    sampler_episode {
        SEQ, TID, ROLE, STATE, NR, NAME, TARGET, WCHAN, FIRST_MS, LAST_MS, SAMPLES, OPEN,
    }
}

/// LoopMonitor: the largest history size.
pub const LOOP_MAX_HISTORY: u32 = 1 << 20;

/// Thread roles threads() reports (src/threads/roles.rs).
pub mod thread_role {
    pub const MAIN: &str = "main";
    pub const LIBUV_WORKER: &str = "libuv-worker";
    pub const V8_WORKER: &str = "v8-worker";
    pub const DELAYED_TASK_SCHEDULER: &str = "delayed-task-scheduler";
    pub const SIGNAL_INSPECTOR: &str = "signal-inspector";
    pub const WORKER_THREAD: &str = "worker-thread";
    pub const OTHER: &str = "other";
    pub const ALL: [&str; 7] = [
        MAIN,
        LIBUV_WORKER,
        V8_WORKER,
        DELAYED_TASK_SCHEDULER,
        SIGNAL_INSPECTOR,
        WORKER_THREAD,
        OTHER,
    ];
}

/// What a thread's role rests on (threads() `roleSource`, src/threads/roles.rs).
pub mod role_source {
    /// The main thread: its tid is the process id.
    pub const TID: &str = "tid";
    /// The thread's name, set by Node, libuv or kernelscope.
    pub const NAME: &str = "name";
    /// kernelscope was loaded in the thread's worker_threads environment.
    pub const REGISTERED: &str = "registered";
    /// The thread ran kernelscope's probe task from the libuv threadpool.
    pub const POOL_PROBE: &str = "pool-probe";
    /// The thread's stack starts in the function the probe's thread started in.
    pub const POOL_STACK: &str = "pool-stack";
    /// Node 20: its place among the threads Node starts at boot.
    pub const BOOT_ORDER: &str = "boot-order";
    /// Inferred: the pool as one run of threads started together, epoll_wait, or nothing.
    pub const INFERRED: &str = "inferred";
    pub const ALL: [&str; 7] = [
        TID, NAME, REGISTERED, POOL_PROBE, POOL_STACK, BOOT_ORDER, INFERRED,
    ];
}

/// A thread's state letter in /proc/<pid>/task/<tid>/stat, named.
pub fn thread_state_name(c: char) -> &'static str {
    match c {
        'R' => "running",
        'S' => "sleeping",
        'D' => "disk-sleep",
        'T' => "stopped",
        't' => "tracing-stop",
        'Z' => "zombie",
        'X' | 'x' => "dead",
        'I' => "idle",
        'P' => "parked",
        'W' => "waking",
        'K' => "wakekill",
        _ => "unknown",
    }
}

/// Every thread state name, in the order of the letters above.
pub const THREAD_STATES: [&str; 12] = [
    "running",
    "sleeping",
    "disk-sleep",
    "stopped",
    "tracing-stop",
    "zombie",
    "dead",
    "idle",
    "parked",
    "waking",
    "wakekill",
    "unknown",
];

/// Every socket state name (index = TCP state code; see parse::sockdiag::socket_state_name).
pub fn tcp_states() -> Vec<&'static str> {
    (0..=13u8).map(tcp_info::socket_state_name).collect()
}

enum Entry {
    Slots(&'static [&'static str]),
    Flags(&'static [(&'static str, u32)]),
    Socket,
}

/// What `layouts()` exports, by the name JS asks for.
fn exported() -> [(&'static str, Entry); 8] {
    [
        ("process", Entry::Slots(process::NAMES)),
        ("fdsColumns", Entry::Slots(fds_col::NAMES)),
        ("fdsBits", Entry::Flags(fds_bit::ALL)),
        ("fdsSocket", Entry::Slots(fds_socket::NAMES)),
        ("socket", Entry::Socket),
        ("loopHistory", Entry::Slots(loop_history::NAMES)),
        ("fdSummary", Entry::Slots(fd_summary::NAMES)),
        ("samplerEpisode", Entry::Slots(sampler_episode::NAMES)),
    ]
}

fn json_str(out: &mut String, s: &str) {
    out.push('"');
    crate::error::json_escape_into(out, s);
    out.push('"');
}

fn json_list(out: &mut String, items: &[&str]) {
    out.push('[');
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_str(out, s);
    }
    out.push(']');
}

fn json_map(out: &mut String, entries: impl Iterator<Item = (&'static str, usize)>) {
    out.push('{');
    for (i, (name, v)) in entries.enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_str(out, name);
        // writing to a String cannot fail
        let _ = write!(out, ":{v}");
    }
    out.push('}');
}

/// Every layout, constant and enum as one JSON document (read once, by lib/layout.js).
pub fn layouts_json() -> String {
    let mut o = String::with_capacity(4096);
    o.push_str("{\"layouts\":{");
    for (i, (name, entry)) in exported().into_iter().enumerate() {
        if i > 0 {
            o.push(',');
        }
        json_str(&mut o, name);
        o.push(':');
        match entry {
            Entry::Slots(names) => json_map(
                &mut o,
                names
                    .iter()
                    .copied()
                    .enumerate()
                    .map(|(i, n)| (n, i))
                    .chain([("LEN", names.len())]),
            ),
            Entry::Flags(all) => json_map(&mut o, all.iter().map(|&(n, v)| (n, v as usize))),
            Entry::Socket => json_map(
                &mut o,
                socket::NAMES
                    .iter()
                    .copied()
                    .enumerate()
                    .map(|(i, n)| (n, i))
                    .chain([("TCP", SOCKET_TCP), ("LEN", socket_len())]),
            ),
        }
    }
    o.push_str("},\"enums\":{\"fdTypes\":");
    json_list(&mut o, &TYPE_NAMES);
    o.push_str(",\"tcpStates\":");
    json_list(&mut o, &tcp_states());
    o.push_str(",\"threadRoles\":");
    json_list(&mut o, &thread_role::ALL);
    o.push_str(",\"roleSources\":");
    json_list(&mut o, &role_source::ALL);
    o.push_str(",\"threadStates\":");
    json_list(&mut o, &THREAD_STATES);
    o.push_str(",\"tcpFields\":");
    let fields: Vec<&str> = tcp_info::FIELDS.iter().map(|f| f.name).collect();
    json_list(&mut o, &fields);
    // writing to a String cannot fail
    let _ = write!(
        o,
        "}},\"constants\":{{\"strNull\":{STR_NULL},\"loopMaxHistory\":{LOOP_MAX_HISTORY}}}}}"
    );
    o
}

/// The layouts as JSON: `{ layouts: { name: { SLOT: index, LEN } }, enums: { name: [..] },
/// constants }`. Internal to lib/layout.js.
#[napi(js_name = "layouts", catch_unwind)]
pub fn layouts() -> String {
    layouts_json()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_positions_in_order() {
        assert_eq!(process::PID, 0);
        assert_eq!(process::FD_HARD, process::LEN - 1);
        assert_eq!(process::NAMES.len(), process::LEN);
        assert_eq!(process::NAMES[process::RSS], "RSS");
        assert_eq!(fds_col::LEN, 8);
        assert_eq!(socket::TCP_INFO_BYTES + 1, SOCKET_TCP);
    }

    #[test]
    fn strings_carry_any_text_and_nulls() {
        let odd = [
            "",
            "\0",
            "a\0b\n\0",
            "\u{1}",
            "@x@@",
            "caf\u{e9}\u{fffd}",
            "\u{1f600}\0\u{1f600}",
        ];
        let mut a = Strings::default();
        for s in odd {
            a.push(Some(s));
            a.push(None);
        }
        a.push_with(|t| t.push_str("socket:[12]"));
        let mut all = Strings::default();
        all.push(Some("first"));
        all.append(&a);
        let back = all.to_vec();
        assert_eq!(back.len(), 2 + odd.len() * 2);
        assert_eq!(back[0].as_deref(), Some("first"));
        for (i, s) in odd.iter().enumerate() {
            assert_eq!(back[1 + 2 * i].as_deref(), Some(*s));
            assert_eq!(back[2 + 2 * i], None);
        }
        assert_eq!(back.last().unwrap().as_deref(), Some("socket:[12]"));
        // lengths are UTF-16 units: an astral character counts two
        assert_eq!(all.lens[odd.len() * 2 - 1], 5);
    }

    #[test]
    fn every_thread_state_is_listed() {
        for c in "RSDTtZXxIPWK?".chars() {
            assert!(THREAD_STATES.contains(&thread_state_name(c)), "{c}");
        }
    }

    #[test]
    fn the_json_names_every_layout() {
        let j = layouts_json();
        assert!(
            j.starts_with("{\"layouts\":{\"process\":{\"PID\":0,"),
            "{j}"
        );
        assert!(j.contains("\"fdsBits\":{\"ERROR\":1,\"SOCKET\":2,"), "{j}");
        assert!(j.contains(&format!("\"TCP\":{SOCKET_TCP},\"LEN\":{}}}", socket_len())));
        assert!(j.contains("\"strNull\":-1,"), "{j}");
        assert!(j.ends_with("\"loopMaxHistory\":1048576}}"), "{j}");
    }
}
