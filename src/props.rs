//! Property tests (proptest) of every parser of kernel text and structs: /proc/<pid>/stat with a
//! hostile comm, status, io, statm/schedstat, task syscall, fdinfo, /proc/net/{tcp,tcp6,udp,
//! unix} rows, NETLINK_SOCK_DIAG replies of every length and truncation, TCP_INFO of every
//! length, /proc/<pid>/maps, fanotify event buffers, and the audit tracer's sockaddr/path/
//! environ decoders.
//! Each parser gets arbitrary bytes (it must not panic) and, where one exists, a round trip:
//! text or bytes laid out here from the kernel's own formats (proc(5), the uapi headers) must
//! read back as the values they were made from. Test-only; no parser code lives here.

use proptest::collection::vec;
use proptest::prelude::*;

use crate::audit::decode::{env_value, resolve, sockaddr, split_nul, Dest};
use crate::parse::fdinfo::{
    classify_target, clock_name, epoll_event_names, inotify_mask_names, open_flag_names,
    parse_fdinfo, type_from_mode,
};
use crate::parse::maps::{is_code, mapping_of, parse_maps, Mapping};
use crate::parse::proc_text::{field, parse_io, parse_numbers, parse_stat};
use crate::parse::sockdiag::{
    decode_batch, decode_diag_msg, link_unix_peers, parse_proc_net_inet, parse_proc_net_unix,
    unix_name, Addr, Batch, InodeMap, SocketInfo,
};
use crate::parse::syscall::{arg_target, parse_syscall_line, syscall_name, Arch, SyscallLine};
use crate::parse::syscall_names;
use crate::parse::tcp_info::{decode_into, get, Unit, FIELDS};
use crate::sentinel::parse_events;

/// Cases per property: `npm run test:rust` runs all of them in a few seconds (release build).
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // a failure is reported with its minimal input; nothing is written into src/
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..max)
}

/// Text made of the characters proc files are made of, in any order: digits, hex, separators,
/// parentheses, newlines, keys' letters, and a few bytes that are not UTF-8.
fn proc_like(max: usize) -> impl Strategy<Value = Vec<u8>> {
    let alphabet: Vec<u8> =
        b"0123456789abcdefxX :()\n\t-_,/[]@pos flags tfd events ino\xff\xc3".to_vec();
    vec(proptest::sample::select(alphabet), 0..max)
}

// --- /proc/<pid>/stat ----------------------------------------------------------------------

/// A stat line as fs/proc/array.c prints it: "pid (comm) state" and the numeric fields.
fn stat_line(comm: &[u8], state: char, nums: &[u64; 49]) -> Vec<u8> {
    let mut out = b"4242 (".to_vec();
    out.extend_from_slice(comm);
    out.extend_from_slice(format!(") {state}").as_bytes());
    for n in nums {
        out.extend_from_slice(format!(" {n}").as_bytes());
    }
    out.push(b'\n');
    out
}

proptest! {
    #![proptest_config(config(8192))]

    /// comm is any 0-64 bytes but NUL (the kernel's limit is 15; prctl takes any byte): spaces,
    /// parentheses, newlines, invalid UTF-8. The fields after it read back exactly.
    #[test]
    fn stat_with_a_hostile_comm_round_trips(
        comm in vec(1u8..=255, 0..64),
        state in proptest::sample::select(vec!['R', 'S', 'D', 'T', 't', 'X', 'Z', 'P', 'I']),
        nums in proptest::array::uniform32(any::<u64>()).prop_flat_map(|a| {
            proptest::array::uniform17(any::<u64>()).prop_map(move |b| {
                let mut out = [0u64; 49];
                out[..32].copy_from_slice(&a);
                out[32..].copy_from_slice(&b);
                out
            })
        }),
    ) {
        let s = parse_stat(&stat_line(&comm, state, &nums)).expect("a whole stat line parses");
        prop_assert_eq!(s.comm, String::from_utf8_lossy(&comm).into_owned());
        prop_assert_eq!(s.state, state);
        // nums[0] is field (4); utime (14), stime (15), num_threads (20), starttime (22)
        prop_assert_eq!(s.utime, nums[10]);
        prop_assert_eq!(s.stime, nums[11]);
        prop_assert_eq!(s.num_threads, nums[16]);
        prop_assert_eq!(s.starttime, nums[18]);
    }

    #[test]
    fn stat_never_panics(text in bytes(512)) {
        let _ = parse_stat(&text);
    }

    /// A stat read cut anywhere (a short read, a thread gone mid-read): no panic, and a cut
    /// before starttime is never a whole answer.
    #[test]
    fn stat_cut_anywhere(comm in vec(1u8..=255, 0..32), cut in any::<prop::sample::Index>()) {
        let line = stat_line(&comm, 'S', &[7; 49]);
        let head = &line[..cut.index(line.len())];
        if let Some(s) = parse_stat(head) {
            prop_assert_eq!(s.starttime, 7, "{:?}", String::from_utf8_lossy(head));
        }
    }
}

// --- statm, schedstat, status, io -----------------------------------------------------------

fn separators() -> impl Strategy<Value = String> {
    proptest::sample::select(vec![" ", "  ", "\t", " \t ", "\n"]).prop_map(str::to_string)
}

proptest! {
    #![proptest_config(config(8192))]

    #[test]
    fn numbers_round_trip(nums in proptest::array::uniform7(any::<u64>()), seps in vec(separators(), 7), tail in "[ \n]{0,3}") {
        let mut text = String::new();
        for (n, s) in nums.iter().zip(&seps) {
            text.push_str(&format!("{n}{s}"));
        }
        text.push_str(&tail);
        prop_assert_eq!(parse_numbers::<7>(text.as_bytes()), Some(nums));
        prop_assert_eq!(parse_numbers::<2>(text.as_bytes()), Some([nums[0], nums[1]]));
        // fewer numbers than asked for: None, not zeros
        let short: String = nums[..3].iter().map(|n| format!("{n} ")).collect();
        prop_assert_eq!(parse_numbers::<4>(short.as_bytes()), None);
    }

    #[test]
    fn numbers_and_fields_never_panic(text in bytes(256), key in "[a-zA-Z_]{0,30}") {
        let _ = parse_numbers::<3>(&text);
        let _ = field(&text, &key);
        let _ = parse_io(&text);
    }

    /// status-like text: the key's value is found whatever lines surround it, including keys
    /// that it is a prefix or suffix of (voluntary_ctxt_switches / nonvoluntary_ctxt_switches).
    #[test]
    fn status_field_round_trips(
        before in vec(("[A-Za-z_]{1,24}", any::<u32>()), 0..12),
        after in vec(("[A-Za-z_]{1,24}", any::<u32>()), 0..12),
        value in any::<u64>(),
        unit in proptest::sample::select(vec!["", " kB"]),
    ) {
        let key = "voluntary_ctxt_switches";
        let mut text = String::new();
        for (k, v) in &before {
            if k != key {
                text.push_str(&format!("{k}:\t{v}\n"));
            }
        }
        text.push_str(&format!("non{key}:\t999\n{key}x:\t998\n{key}:\t{value}{unit}\n"));
        for (k, v) in &after {
            text.push_str(&format!("{k}:\t{v}\n"));
        }
        prop_assert_eq!(field(text.as_bytes(), key), Some(value));
        prop_assert_eq!(field(text.as_bytes(), "nonvoluntary_ctxt_switches"), Some(999));
    }

    /// /proc/<pid>/io with any subset of its seven lines, in any order, among unknown lines.
    #[test]
    fn io_round_trips(present in proptest::array::uniform7(proptest::option::of(any::<u64>())), junk in vec("[a-z_]{1,12}: [0-9]{1,5}", 0..4), order in any::<u64>()) {
        let keys = ["rchar", "wchar", "syscr", "syscw", "read_bytes", "write_bytes", "cancelled_write_bytes"];
        let mut lines: Vec<String> = keys.iter().zip(&present).filter_map(|(k, v)| v.map(|v| format!("{k}: {v}"))).collect();
        lines.extend(junk.into_iter().filter(|l| !keys.iter().any(|k| l.starts_with(&format!("{k}:")))));
        let n = lines.len().max(1) as u64;
        lines.rotate_left((order % n) as usize);
        let io = parse_io(lines.join("\n").as_bytes());
        prop_assert_eq!([io.rchar, io.wchar, io.syscr, io.syscw, io.read_bytes, io.write_bytes, io.cancelled_write_bytes], present);
    }
}

// --- task/<tid>/syscall -----------------------------------------------------------------------

proptest! {
    #![proptest_config(config(8192))]

    /// "nr 0xa1 .. 0xa6 0xsp 0xpc" (fs/proc/base.c proc_pid_syscall), "-1 0xsp 0xpc", "running".
    #[test]
    fn syscall_line_round_trips(nr in 0i64..1024, args in proptest::array::uniform6(any::<u64>()), sp in any::<u64>(), pc in any::<u64>()) {
        let text = format!("{nr} {} 0x{sp:x} 0x{pc:x}\n", args.iter().map(|a| format!("0x{a:x}")).collect::<Vec<_>>().join(" "));
        prop_assert_eq!(parse_syscall_line(text.as_bytes()), Some(SyscallLine::InSyscall { nr, args, sp: Some(sp) }));
        prop_assert_eq!(parse_syscall_line(format!("-1 0x{sp:x} 0x{pc:x}\n").as_bytes()), Some(SyscallLine::NotInSyscall { sp: Some(sp) }));
        // a line cut before its sixth argument is no answer (never zeros taken for arguments)
        let cut = text.find(&format!(" 0x{:x}", args[5])).unwrap_or(0);
        if cut > 0 {
            prop_assert_eq!(parse_syscall_line(&text.as_bytes()[..cut]), None);
        }
    }

    #[test]
    fn syscall_line_never_panics(text in bytes(200), hostile in proc_like(200)) {
        let _ = parse_syscall_line(&text);
        let _ = parse_syscall_line(&hostile);
    }

    #[test]
    fn syscall_names_for_any_number(nr in any::<i64>()) {
        for arch in [Arch::X86_64, Arch::Aarch64] {
            let table: &[&str] = match arch {
                Arch::X86_64 => &syscall_names::X86_64,
                Arch::Aarch64 => &syscall_names::AARCH64,
            };
            let name = syscall_name(arch, nr);
            let inside = usize::try_from(nr).is_ok_and(|i| i < table.len() && !table[i].is_empty());
            prop_assert_eq!(name.is_some(), inside);
        }
    }

    #[test]
    fn arg_target_never_panics(name in ".{0,40}") {
        let _ = arg_target(&name);
    }
}

/// What a blocked call names is read from args[i] (and args[i + 1] for poll's count): every
/// syscall of both tables must point inside the six arguments.
#[test]
fn every_syscall_argument_index_is_one_of_six() {
    use crate::parse::syscall::ArgTarget::{Fd, Path, PollFds};
    for name in syscall_names::X86_64
        .iter()
        .chain(syscall_names::AARCH64.iter())
    {
        match arg_target(name) {
            Some(Fd(i)) | Some(Path(i)) => assert!(i < 6, "{name}: argument {i}"),
            Some(PollFds(i)) => assert!(i + 1 < 6, "{name}: arguments {i} and {}", i + 1),
            None => {}
        }
    }
}

// --- fdinfo ------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Epoll {
    tfd: u16,
    events: u32,
    ino: u64,
}

#[derive(Debug, Clone)]
struct Inotify {
    wd: u16,
    ino: u64,
    sdev: u32,
    mask: u32,
}

proptest! {
    #![proptest_config(config(4096))]

    /// fdinfo as fs/proc/fd.c, fs/eventpoll.c, fs/notify/fdinfo.c, fs/eventfd.c and
    /// fs/timerfd.c print it.
    #[test]
    fn fdinfo_round_trips(
        pos in any::<u64>(),
        flags in 0u32..0o20000000,
        mnt in any::<u16>(),
        ino in any::<u64>(),
        epoll in vec((any::<u16>(), any::<u32>(), any::<u64>()).prop_map(|(tfd, events, ino)| Epoll { tfd, events, ino }), 0..6),
        inotify in vec((any::<u16>(), any::<u64>(), any::<u32>(), any::<u32>()).prop_map(|(wd, ino, sdev, mask)| Inotify { wd, ino, sdev, mask }), 0..4),
        eventfd in proptest::option::of((any::<u64>(), any::<bool>())),
        timer in proptest::option::of((0i64..12, any::<u32>(), 0u32..4, 0u32..100_000, 0u32..1_000_000_000, 0u32..100, 0u32..1_000_000_000)),
    ) {
        let mut text = format!("pos:\t{pos}\nflags:\t0{flags:o}\nmnt_id:\t{mnt}\nino:\t{ino}\n");
        for e in &epoll {
            text.push_str(&format!("tfd: {:>8} events: {:>8x} data: {:>16x}  pos:0 ino:{:x} sdev:3\n", e.tfd, e.events, 7, e.ino));
        }
        for w in &inotify {
            text.push_str(&format!("inotify wd:{:x} ino:{:x} sdev:{:x} mask:{:x} ignored_mask:0 fhandle-bytes:8 fhandle-type:1 f_handle:0011223344556677\n", w.wd, w.ino, w.sdev, w.mask));
        }
        if let Some((count, sem)) = eventfd {
            text.push_str(&format!("eventfd-count: {count:>16x}\neventfd-id: 3\neventfd-semaphore: {}\n", u8::from(sem)));
        }
        if let Some((clock, ticks, sflags, vs, vns, is, ins)) = timer {
            text.push_str(&format!("clockid: {clock}\nticks: {ticks}\nsettime flags: 0{sflags:o}\nit_value: ({vs}, {vns})\nit_interval: ({is}, {ins})\n"));
        }
        let info = parse_fdinfo(text.as_bytes());
        prop_assert_eq!(info.pos, Some(pos));
        prop_assert_eq!(info.flags, Some(flags));
        prop_assert_eq!(info.ino, Some(ino));
        prop_assert_eq!(info.epoll.len(), epoll.len());
        for (got, e) in info.epoll.iter().zip(&epoll) {
            prop_assert_eq!((got.tfd, got.events, got.inode), (i64::from(e.tfd), e.events, Some(e.ino)));
        }
        prop_assert_eq!(info.inotify.len(), inotify.len());
        for (got, w) in info.inotify.iter().zip(&inotify) {
            prop_assert_eq!((got.wd, got.inode, got.device, got.mask), (i64::from(w.wd), Some(w.ino), Some(u64::from(w.sdev)), w.mask));
        }
        prop_assert_eq!(info.eventfd_count, eventfd.map(|e| e.0));
        prop_assert_eq!(info.eventfd_semaphore, eventfd.map(|e| e.1));
        match (timer, &info.timerfd) {
            (None, None) => {}
            (Some((clock, ticks, sflags, vs, vns, is, ins)), Some(t)) => {
                prop_assert_eq!((t.clock_id, t.ticks, t.settime_flags), (clock, u64::from(ticks), sflags));
                prop_assert!((t.value_ms - (f64::from(vs) * 1e3 + f64::from(vns) / 1e6)).abs() < 1e-6);
                prop_assert!((t.interval_ms - (f64::from(is) * 1e3 + f64::from(ins) / 1e6)).abs() < 1e-6);
            }
            (want, got) => prop_assert!(false, "timerfd {:?} read as {:?}", want, got),
        }
    }

    #[test]
    fn fdinfo_and_names_never_panic(text in bytes(600), hostile in proc_like(600), n in any::<u32>(), clock in any::<i64>(), target in ".{0,80}", mode in any::<u32>()) {
        let _ = parse_fdinfo(&text);
        let _ = parse_fdinfo(&hostile);
        let _ = open_flag_names(n);
        let _ = epoll_event_names(n);
        let _ = inotify_mask_names(n);
        let _ = clock_name(clock);
        let _ = classify_target(&target);
        let _ = type_from_mode(mode, &target);
    }
}

// --- /proc/net/{tcp,tcp6,udp,udp6,unix} ------------------------------------------------------

#[derive(Debug, Clone)]
struct InetRow {
    local: [u8; 16],
    lport: u16,
    remote: [u8; 16],
    rport: u16,
    state: u8,
    tx: u32,
    rx: u32,
    inode: u64,
}

/// An address as net/ipv4/tcp_ipv4.c (%08X of the __be32) and net/ipv6/tcp_ipv6.c (four
/// %08X words of s6_addr32) print it: each 32-bit word in host byte order.
fn proc_net_addr(a: &[u8; 16], v6: bool) -> String {
    let words = if v6 { 4 } else { 1 };
    (0..words)
        .map(|w| {
            format!(
                "{:08X}",
                u32::from_ne_bytes([a[w * 4], a[w * 4 + 1], a[w * 4 + 2], a[w * 4 + 3]])
            )
        })
        .collect()
}

fn inet_row() -> impl Strategy<Value = InetRow> {
    (
        any::<[u8; 16]>(),
        any::<u16>(),
        any::<[u8; 16]>(),
        any::<u16>(),
        1u8..13,
        any::<u32>(),
        any::<u32>(),
        any::<u64>(),
    )
        .prop_map(
            |(local, lport, remote, rport, state, tx, rx, inode)| InetRow {
                local,
                lport,
                remote,
                rport,
                state,
                tx,
                rx,
                inode,
            },
        )
}

fn ip_of(a: &[u8; 16], v6: bool) -> Addr {
    if v6 {
        Addr::Ip(std::net::IpAddr::V6(std::net::Ipv6Addr::from(*a)))
    } else {
        Addr::Ip(std::net::IpAddr::V4(std::net::Ipv4Addr::new(
            a[0], a[1], a[2], a[3],
        )))
    }
}

proptest! {
    #![proptest_config(config(4096))]

    #[test]
    fn proc_net_inet_round_trips(rows in vec(inet_row(), 0..12), v6 in any::<bool>()) {
        let mut text = String::from("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n");
        for (i, r) in rows.iter().enumerate() {
            text.push_str(&format!("{i:>4}: {}:{:04X} {}:{:04X} {:02X} {:08X}:{:08X} 00:00000000 00000000  1000        0 {} 1 0000000000000000 20 4 30 10 -1\n",
                proc_net_addr(&r.local, v6), r.lport, proc_net_addr(&r.remote, v6), r.rport, r.state, r.tx, r.rx, r.inode));
        }
        let mut out = Vec::new();
        parse_proc_net_inet(text.as_bytes(), v6, "tcp", &mut out);
        prop_assert_eq!(out.len(), rows.len());
        for (s, r) in out.iter().zip(&rows) {
            prop_assert_eq!(s.inode, r.inode);
            prop_assert_eq!(s.local_address.clone(), Some(ip_of(&r.local, v6)));
            prop_assert_eq!(s.remote_address.clone(), Some(ip_of(&r.remote, v6)));
            prop_assert_eq!((s.local_port, s.remote_port), (Some(r.lport), Some(r.rport)));
            // a listener's tx_queue is not its backlog: left unknown
            let tx = (r.state != 0x0a).then_some(u64::from(r.tx));
            prop_assert_eq!((s.send_queue_bytes, s.recv_queue_bytes), (tx, Some(u64::from(r.rx))));
        }
    }

    /// /proc/net/unix (net/unix/af_unix.c unix_seq_show): the path is the rest of the line,
    /// spaces and all; abstract names start with '@'.
    #[test]
    fn proc_net_unix_round_trips(rows in vec((any::<u32>(), 1u8..6, 0u8..5, prop_oneof![1u64..100_000, any::<u64>()], proptest::option::of("[@/]?[ -~]{1,60}")), 0..10)) {
        let mut text = String::from("Num       RefCount Protocol Flags    Type St Inode Path\n");
        for (flags, kind, st, inode, path) in &rows {
            text.push_str(&format!("0000000000000000: 00000002 00000000 {flags:08X} {kind:04X} {st:02X} {inode:>5}"));
            if let Some(p) = path {
                text.push(' ');
                text.push_str(p);
            }
            text.push('\n');
        }
        let mut out = Vec::new();
        parse_proc_net_unix(text.as_bytes(), &mut out);
        prop_assert_eq!(out.len(), rows.len());
        for (s, (flags, _, _, inode, path)) in out.iter().zip(&rows) {
            prop_assert_eq!(s.inode, *inode);
            prop_assert_eq!(&s.path, path);
            prop_assert_eq!(s.state == "listen", flags & 0x10000 != 0);
        }
    }

    #[test]
    fn proc_net_never_panics(text in bytes(800), hostile in proc_like(800), v6 in any::<bool>()) {
        let mut out = Vec::new();
        parse_proc_net_inet(&text, v6, "udp", &mut out);
        parse_proc_net_inet(&hostile, v6, "tcp", &mut out);
        parse_proc_net_unix(&text, &mut out);
        parse_proc_net_unix(&hostile, &mut out);
    }
}

// --- NETLINK_SOCK_DIAG replies ---------------------------------------------------------------

// linux/netlink.h, linux/inet_diag.h, linux/unix_diag.h
const NLMSG_DONE: u16 = 3;
const NLMSG_ERROR: u16 = 2;
const SOCK_DIAG_BY_FAMILY: u16 = 20;

fn nlmsg(kind: u16, payload: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(16 + payload.len() + 3);
    m.extend_from_slice(&((16 + payload.len()) as u32).to_ne_bytes());
    m.extend_from_slice(&kind.to_ne_bytes());
    m.extend_from_slice(&2u16.to_ne_bytes()); // NLM_F_MULTI
    m.extend_from_slice(&[0u8; 8]);
    m.extend_from_slice(payload);
    while m.len() % 4 != 0 {
        m.push(0);
    }
    m
}

#[derive(Debug, Clone)]
enum Diag {
    Inet {
        v6: bool,
        state: u8,
        sport: u16,
        dport: u16,
        src: [u8; 16],
        dst: [u8; 16],
        rq: u32,
        wq: u32,
        inode: u32,
        attrs: Vec<u8>,
    },
    Unix {
        kind: u8,
        state: u8,
        inode: u32,
        name: Option<Vec<u8>>,
        peer: Option<u32>,
        queues: Option<(u32, u32)>,
    },
}

/// struct inet_diag_msg (72 bytes) followed by rtattrs the decoder does not read.
fn inet_payload(d: &Diag) -> Vec<u8> {
    let Diag::Inet {
        v6,
        state,
        sport,
        dport,
        src,
        dst,
        rq,
        wq,
        inode,
        attrs,
    } = d
    else {
        unreachable!()
    };
    let mut p = vec![if *v6 { 10 } else { 2 }, *state, 0, 0];
    p.extend_from_slice(&sport.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(src);
    p.extend_from_slice(dst);
    p.extend_from_slice(&[0u8; 12]); // idiag_if, idiag_cookie
    p.extend_from_slice(&0u32.to_ne_bytes()); // expires
    p.extend_from_slice(&rq.to_ne_bytes());
    p.extend_from_slice(&wq.to_ne_bytes());
    p.extend_from_slice(&0u32.to_ne_bytes()); // uid
    p.extend_from_slice(&inode.to_ne_bytes());
    p.extend_from_slice(attrs);
    p
}

fn rtattr(kind: u16, data: &[u8]) -> Vec<u8> {
    let mut a = Vec::new();
    a.extend_from_slice(&((4 + data.len()) as u16).to_ne_bytes());
    a.extend_from_slice(&kind.to_ne_bytes());
    a.extend_from_slice(data);
    while a.len() % 4 != 0 {
        a.push(0);
    }
    a
}

/// struct unix_diag_msg (16 bytes) and its UNIX_DIAG_NAME / PEER / RQLEN attributes.
fn unix_payload(d: &Diag) -> Vec<u8> {
    let Diag::Unix {
        kind,
        state,
        inode,
        name,
        peer,
        queues,
    } = d
    else {
        unreachable!()
    };
    let mut p = vec![1, *kind, *state, 0];
    p.extend_from_slice(&inode.to_ne_bytes());
    p.extend_from_slice(&[0u8; 8]); // cookie
    if let Some(n) = name {
        p.extend(rtattr(0, n));
    }
    if let Some(peer) = peer {
        p.extend(rtattr(2, &peer.to_ne_bytes()));
    }
    if let Some((rq, wq)) = queues {
        let mut q = rq.to_ne_bytes().to_vec();
        q.extend_from_slice(&wq.to_ne_bytes());
        p.extend(rtattr(4, &q));
    }
    p
}

fn diag() -> impl Strategy<Value = Diag> {
    prop_oneof![
        (
            any::<bool>(),
            1u8..13,
            any::<u16>(),
            any::<u16>(),
            any::<[u8; 16]>(),
            any::<[u8; 16]>(),
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            vec(any::<u8>(), 0..3).prop_map(|v| v
                .iter()
                .flat_map(|&b| rtattr(u16::from(b), &[b; 3]))
                .collect())
        )
            .prop_map(
                |(v6, state, sport, dport, src, dst, rq, wq, inode, attrs)| Diag::Inet {
                    v6,
                    state,
                    sport,
                    dport,
                    src,
                    dst,
                    rq,
                    wq,
                    inode,
                    attrs
                }
            ),
        (
            1u8..6,
            1u8..11,
            any::<u32>(),
            proptest::option::of(vec(any::<u8>(), 1..108)),
            proptest::option::of(any::<u32>()),
            proptest::option::of((any::<u32>(), any::<u32>()))
        )
            .prop_map(|(kind, state, inode, name, peer, queues)| Diag::Unix {
                kind,
                state,
                inode,
                name,
                peer,
                queues
            }),
    ]
}

fn payload(d: &Diag) -> Vec<u8> {
    match d {
        Diag::Inet { .. } => inet_payload(d),
        Diag::Unix { .. } => unix_payload(d),
    }
}

/// What the decoder must make of one message.
fn check_decoded(s: &SocketInfo, d: &Diag) -> Result<(), TestCaseError> {
    match d {
        Diag::Inet {
            v6,
            sport,
            dport,
            src,
            dst,
            rq,
            wq,
            inode,
            ..
        } => {
            prop_assert_eq!(s.inode, u64::from(*inode));
            prop_assert_eq!((s.local_port, s.remote_port), (Some(*sport), Some(*dport)));
            prop_assert_eq!(s.local_address.clone(), Some(ip_of(src, *v6)));
            prop_assert_eq!(s.remote_address.clone(), Some(ip_of(dst, *v6)));
            prop_assert_eq!(
                (s.recv_queue_bytes, s.send_queue_bytes),
                (Some(u64::from(*rq)), Some(u64::from(*wq)))
            );
        }
        Diag::Unix {
            inode,
            name,
            peer,
            queues,
            ..
        } => {
            prop_assert_eq!(s.inode, u64::from(*inode));
            prop_assert_eq!(s.path.clone(), name.as_deref().and_then(unix_name));
            prop_assert_eq!(s.peer_inode, peer.map(u64::from));
            prop_assert_eq!(
                (s.recv_queue_bytes, s.send_queue_bytes),
                (
                    queues.map(|q| u64::from(q.0)),
                    queues.map(|q| u64::from(q.1))
                )
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(2048))]

    /// A dump reply of any mix of inet and unix messages reads back message by message; ended
    /// by NLMSG_DONE it is Done, by NLMSG_ERROR the errno.
    #[test]
    fn sock_diag_batch_round_trips(msgs in vec(diag(), 0..12), end in 0u8..3, errno in 1i32..134) {
        let mut buf: Vec<u8> = msgs.iter().flat_map(|d| nlmsg(SOCK_DIAG_BY_FAMILY, &payload(d))).collect();
        match end {
            0 => {}
            1 => buf.extend(nlmsg(NLMSG_DONE, &0u32.to_ne_bytes())),
            _ => buf.extend(nlmsg(NLMSG_ERROR, &(-errno).to_ne_bytes())),
        }
        let mut out = Vec::new();
        let batch = decode_batch(&buf, &mut out, &|_| true);
        prop_assert_eq!(batch, match end { 0 => Batch::More, 1 => Batch::Done, _ => Batch::Error(errno) });
        prop_assert_eq!(out.len(), msgs.len());
        for (s, d) in out.iter().zip(&msgs) {
            check_decoded(s, d)?;
        }
        // a filter on inodes drops inet sockets only (unix names are needed for peers)
        let mut few = Vec::new();
        decode_batch(&buf, &mut few, &|_| false);
        prop_assert_eq!(few.len(), msgs.iter().filter(|d| matches!(d, Diag::Unix { .. })).count());
    }

    /// Every truncation of a reply (a short recv, a message cut by the buffer's end): no
    /// panic, no read past the end, and only the whole messages before the cut are decoded.
    #[test]
    fn sock_diag_every_truncation(msgs in vec(diag(), 1..6)) {
        let parts: Vec<Vec<u8>> = msgs.iter().map(|d| nlmsg(SOCK_DIAG_BY_FAMILY, &payload(d))).collect();
        let buf: Vec<u8> = parts.concat();
        let mut ends = Vec::new();
        let mut at = 0;
        for p in &parts {
            at += p.len();
            ends.push(at);
        }
        for cut in 0..=buf.len() {
            let mut out = Vec::new();
            prop_assert_eq!(decode_batch(&buf[..cut], &mut out, &|_| true), Batch::More);
            // a message counts once its header's length fits (its alignment padding may be cut)
            let whole = parts.iter().zip(&ends).filter(|(p, &e)| e - p.len() + (16 + payload_len(p)) <= cut).count();
            prop_assert_eq!(out.len(), whole, "cut at {} of {}", cut, buf.len());
            for (s, d) in out.iter().zip(&msgs) {
                check_decoded(s, d)?;
            }
        }
    }

    /// One message's payload cut to every length: None or a socket, never a panic.
    #[test]
    fn diag_msg_every_length(d in diag()) {
        let p = payload(&d);
        for n in 0..=p.len() {
            let _ = decode_diag_msg(&p[..n], &|_| true);
        }
    }

    #[test]
    fn sock_diag_never_panics(buf in bytes(1024), p in bytes(200), name in bytes(200)) {
        let mut out = Vec::new();
        let _ = decode_batch(&buf, &mut out, &|_| true);
        let _ = decode_diag_msg(&p, &|_| true);
        let _ = unix_name(&name);
    }

    /// A unix path (no NUL) reads back as itself (lossy for invalid UTF-8); an abstract name as
    /// '@' and its bytes with NULs shown as '@'.
    #[test]
    fn unix_names_round_trip(path in vec(1u8..=255, 1..107), abstract_name in vec(any::<u8>(), 0..100)) {
        prop_assert_eq!(unix_name(&path), Some(String::from_utf8_lossy(&path).into_owned()));
        let mut raw = vec![0u8];
        raw.extend_from_slice(&abstract_name);
        let shown: Vec<u8> = abstract_name.iter().map(|&b| if b == 0 { b'@' } else { b }).collect();
        prop_assert_eq!(unix_name(&raw), Some(format!("@{}", String::from_utf8_lossy(&shown))));
    }

    /// Peers are named by the peer's own name, whatever the map holds (peers missing,
    /// pointing at themselves, at each other).
    #[test]
    fn unix_peers_link(socks in vec((1u64..40, proptest::option::of("[a-z/]{1,12}"), proptest::option::of(1u64..40)), 0..30)) {
        let mut map: InodeMap<SocketInfo> = InodeMap::default();
        for (inode, path, peer) in &socks {
            let mut out = Vec::new();
            let d = Diag::Unix { kind: 1, state: 1, inode: *inode as u32, name: path.clone().map(String::into_bytes), peer: peer.map(|p| p as u32), queues: None };
            decode_batch(&nlmsg(SOCK_DIAG_BY_FAMILY, &payload(&d)), &mut out, &|_| true);
            for s in out {
                map.insert(s.inode, s);
            }
        }
        let before = map.clone();
        link_unix_peers(&mut map);
        for (inode, s) in &map {
            let b = &before[inode];
            let peer_name = b.peer_inode.and_then(|p| before.get(&p)).and_then(|p| p.path.clone());
            if b.peer_inode.is_some() {
                prop_assert_eq!(s.remote_address.clone(), peer_name.clone().map(Addr::Name));
            }
            prop_assert_eq!(s.path.clone(), b.path.clone().or(if b.peer_inode.is_some() { peer_name } else { None }));
        }
    }
}

/// The payload length a message's header announces (the decoder's view of where it ends).
fn payload_len(msg: &[u8]) -> usize {
    u32::from_ne_bytes([msg[0], msg[1], msg[2], msg[3]]) as usize - 16
}

// --- TCP_INFO -----------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(4096))]

    /// getsockopt(TCP_INFO) returns as many bytes as the running kernel's struct has: every
    /// length from 0 to past the newest field. A field is there exactly when it fits, with the
    /// value its bytes hold (native endian, unit converted); every other slot is NaN.
    #[test]
    fn tcp_info_every_length(full in vec(any::<u8>(), 300), len in 0usize..=300, short_out in 0usize..70) {
        let b = &full[..len];
        let mut out = vec![0.0; FIELDS.len()];
        decode_into(b, &mut out);
        for (i, f) in FIELDS.iter().enumerate() {
            let fits = f.offset + f.size <= len;
            prop_assert_eq!(!out[i].is_nan(), fits, "{} at length {}", f.name, len);
            prop_assert_eq!(get(b, f.name).is_some(), fits);
            if fits {
                let raw = &b[f.offset..f.offset + f.size];
                let mut word = [0u8; 8];
                if cfg!(target_endian = "little") {
                    word[..f.size].copy_from_slice(raw);
                } else {
                    word[8 - f.size..].copy_from_slice(raw);
                }
                let v = if cfg!(target_endian = "little") { u64::from_le_bytes(word) } else { u64::from_be_bytes(word) } as f64;
                let want = if f.unit == Unit::UsToMs { v / 1e3 } else { v };
                prop_assert_eq!(out[i], want, "{}", f.name);
                prop_assert_eq!(get(b, f.name), Some(want));
            }
        }
        // an output shorter than the table gets the fields that fit, and nothing is written past it
        let mut short = vec![-1.0; short_out.min(FIELDS.len())];
        decode_into(b, &mut short);
    }
}

// --- fanotify events (sentinel) -----------------------------------------------------------------

/// struct fanotify_event_metadata (24 bytes) and one FAN_EVENT_INFO_TYPE_FID record (hdr,
/// fsid, file_handle) with `handle` bytes.
fn fan_event(mask: u64, pid: i32, handle: Option<(i32, Vec<u8>)>) -> Vec<u8> {
    let info = handle.as_ref().map(|(t, h)| {
        let mut i = vec![1u8, 0, 0, 0];
        i.extend_from_slice(&[0u8; 8]); // fsid
        i.extend_from_slice(&(h.len() as u32).to_ne_bytes());
        i.extend_from_slice(&t.to_ne_bytes());
        i.extend_from_slice(h);
        let len = i.len() as u16;
        i[2..4].copy_from_slice(&len.to_ne_bytes());
        i
    });
    let event_len = 24 + info.as_ref().map_or(0, Vec::len);
    let mut e = Vec::new();
    e.extend_from_slice(&(event_len as u32).to_ne_bytes());
    e.extend_from_slice(&[3u8, 0]); // vers, reserved
    e.extend_from_slice(&24u16.to_ne_bytes()); // metadata_len
    e.extend_from_slice(&mask.to_ne_bytes());
    e.extend_from_slice(&(-1i32).to_ne_bytes()); // fd: FAN_NOFD
    e.extend_from_slice(&pid.to_ne_bytes());
    if let Some(i) = info {
        e.extend(i);
    }
    e
}

proptest! {
    #![proptest_config(config(4096))]

    #[test]
    fn fanotify_events_round_trip(events in vec((any::<u64>(), any::<i32>(), proptest::option::of((any::<i32>(), vec(any::<u8>(), 0..64)))), 0..8)) {
        let parts: Vec<Vec<u8>> = events.iter().map(|(m, p, h)| fan_event(*m, *p, h.clone())).collect();
        let buf = parts.concat();
        let got = parse_events(&buf);
        prop_assert_eq!(got, events.clone());
        // cut anywhere: the whole events before the cut, nothing else, no panic
        let mut at = 0;
        let mut ends = Vec::new();
        for p in &parts {
            at += p.len();
            ends.push(at);
        }
        for cut in 0..=buf.len() {
            let n = ends.iter().filter(|&&e| e <= cut).count();
            prop_assert_eq!(parse_events(&buf[..cut]), events[..n].to_vec());
        }
    }

    #[test]
    fn fanotify_never_panics(buf in bytes(600)) {
        let _ = parse_events(&buf);
    }
}

// --- audit: sockaddr, paths, environ, cmdline ---------------------------------------------------

proptest! {
    #![proptest_config(config(8192))]

    #[test]
    fn sockaddr_round_trips(port in any::<u16>(), v4 in any::<[u8; 4]>(), v6 in any::<[u8; 16]>(), path in vec(1u8..=255, 1..100), abstract_name in vec(any::<u8>(), 0..100)) {
        let family = |f: i32| (f as u16).to_ne_bytes();
        let mut sin = family(libc::AF_INET).to_vec();
        sin.extend_from_slice(&port.to_be_bytes());
        sin.extend_from_slice(&v4);
        sin.extend_from_slice(&[0u8; 8]);
        prop_assert_eq!(sockaddr(&sin), Some(Dest::Inet { family: "inet", address: std::net::Ipv4Addr::from(v4).to_string(), port }));
        let mut sin6 = family(libc::AF_INET6).to_vec();
        sin6.extend_from_slice(&port.to_be_bytes());
        sin6.extend_from_slice(&[0u8; 4]); // flowinfo
        sin6.extend_from_slice(&v6);
        sin6.extend_from_slice(&[0u8; 4]); // scope id
        let ip = std::net::Ipv6Addr::from(v6);
        let address = ip.to_ipv4_mapped().map_or_else(|| ip.to_string(), |a| a.to_string());
        prop_assert_eq!(sockaddr(&sin6), Some(Dest::Inet { family: "inet6", address, port }));
        let mut sun = family(libc::AF_UNIX).to_vec();
        sun.extend_from_slice(&path);
        sun.push(0);
        prop_assert_eq!(sockaddr(&sun), Some(Dest::Unix { path: path.clone(), abstract_ns: false }));
        let mut abs = family(libc::AF_UNIX).to_vec();
        abs.push(0);
        abs.extend_from_slice(&abstract_name);
        prop_assert_eq!(sockaddr(&abs), Some(Dest::Unix { path: abstract_name.clone(), abstract_ns: true }));
        // every truncation: no panic
        for b in [&sin[..], &sin6[..], &sun[..]] {
            for n in 0..=b.len() {
                let _ = sockaddr(&b[..n]);
            }
        }
    }

    #[test]
    fn audit_decoders_never_panic(b in bytes(300), base in bytes(100), name in bytes(20)) {
        let _ = sockaddr(&b);
        let _ = resolve(&base, &b);
        let _ = env_value(&b, &name);
        let _ = split_nul(&b);
    }

    /// resolve() is lexical normalisation: absolute, no empty, '.' or '..' segment, and
    /// resolving its own answer changes nothing.
    #[test]
    fn resolve_normalises(base in "(/?[a-z.]{0,4}){0,6}", path in "(/?[a-z.]{0,4}){0,6}") {
        let out = resolve(base.as_bytes(), path.as_bytes());
        prop_assert_eq!(out[0], b'/');
        for seg in out[1..].split(|&c| c == b'/') {
            prop_assert!(out == b"/" || (!seg.is_empty() && seg != b"." && seg != b".."), "{:?}", String::from_utf8_lossy(&out));
        }
        prop_assert_eq!(resolve(b"/", &out), out.clone());
        prop_assert_eq!(resolve(b"/elsewhere", &out), out);
    }

    #[test]
    fn environ_and_cmdline_round_trip(vars in vec(("[A-Z_]{1,10}", vec(1u8..=255, 0..20)), 1..10), args in vec(vec(1u8..=255, 1..20), 1..10)) {
        let mut env = Vec::new();
        for (k, v) in &vars {
            env.extend_from_slice(k.as_bytes());
            env.push(b'=');
            env.extend_from_slice(v);
            env.push(0);
        }
        // the first occurrence of a name is its value (execve keeps duplicates; getenv takes the first)
        let (k, v) = &vars[0];
        prop_assert_eq!(env_value(&env, k.as_bytes()), Some(&v[..]));
        let mut cmdline = args.join(&0u8);
        cmdline.push(0);
        prop_assert_eq!(split_nul(&cmdline), args);
    }
}

// --- /proc/<pid>/maps -------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(4096))]

    /// maps as fs/proc/task_mmu.c prints it ("%08lx-%08lx %c%c%c%c %08llx %02x:%02x %lu " and
    /// the path, which may hold spaces), ranges ascending and disjoint: every line reads back,
    /// and mapping_of() agrees with a linear search for any address.
    #[test]
    fn maps_round_trip(
        ranges in vec((1u64..1 << 20, 1u64..1 << 20, any::<bool>(), any::<bool>(), any::<bool>(), proptest::option::of("[ -~]{1,40}")), 0..24),
        probes in vec(any::<u64>(), 0..16),
    ) {
        let mut text = String::new();
        let mut want = Vec::new();
        let mut at = 0x400000u64;
        for (gap, len, r, w, x, path) in &ranges {
            let start = at + gap * 4096;
            let end = start + len * 4096;
            at = end;
            let perms = format!("{}{}{}p", if *r { 'r' } else { '-' }, if *w { 'w' } else { '-' }, if *x { 'x' } else { '-' });
            text.push_str(&format!("{start:08x}-{end:08x} {perms} 00000000 00:1e 123"));
            if let Some(p) = path {
                text.push_str("                          ");
                text.push_str(p);
            }
            text.push('\n');
            want.push(Mapping { start, end, exec: *x });
        }
        let got = parse_maps(text.as_bytes());
        prop_assert_eq!(&got, &want);
        let mut addrs = probes.clone();
        for m in &want {
            addrs.extend([m.start, m.end - 1, m.end, m.start.saturating_sub(1)]);
        }
        for a in addrs {
            let linear = want.iter().find(|m| m.start <= a && a < m.end);
            prop_assert_eq!(mapping_of(&got, a), linear);
            prop_assert_eq!(is_code(&got, a), linear.is_some_and(|m| m.exec));
        }
    }

    #[test]
    fn maps_never_panic(text in bytes(800), hostile in proc_like(800), addr in any::<u64>()) {
        for t in [&text, &hostile] {
            let m = parse_maps(t);
            let _ = mapping_of(&m, addr);
            let _ = is_code(&m, addr);
        }
    }
}
