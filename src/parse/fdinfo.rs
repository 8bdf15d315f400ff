//! /proc/<pid>/fdinfo/<fd> text and the readlink targets of /proc/<pid>/fd: what kind of
//! descriptor it is, its position and open flags, and the per-type extras the kernel prints
//! (epoll watch lists, eventfd counters, timerfd settings, inotify watches).

use super::hex;

/// Descriptor kinds, in the order of `TYPE_NAMES` (the JS layer receives the index and the
/// names through crate::layout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FdType {
    File = 0,
    Directory,
    Socket,
    Pipe,
    Fifo,
    CharDevice,
    BlockDevice,
    Epoll,
    EventFd,
    TimerFd,
    SignalFd,
    Inotify,
    PidFd,
    IoUring,
    Anon,
    Unknown,
}

pub const TYPE_NAMES: [&str; 16] = [
    "file",
    "directory",
    "socket",
    "pipe",
    "fifo",
    "char-device",
    "block-device",
    "epoll",
    "eventfd",
    "timerfd",
    "signalfd",
    "inotify",
    "pidfd",
    "io_uring",
    "anon",
    "unknown",
];

impl FdType {
    const ALL: [FdType; 16] = [
        FdType::File,
        FdType::Directory,
        FdType::Socket,
        FdType::Pipe,
        FdType::Fifo,
        FdType::CharDevice,
        FdType::BlockDevice,
        FdType::Epoll,
        FdType::EventFd,
        FdType::TimerFd,
        FdType::SignalFd,
        FdType::Inotify,
        FdType::PidFd,
        FdType::IoUring,
        FdType::Anon,
        FdType::Unknown,
    ];

    pub fn name(self) -> &'static str {
        TYPE_NAMES[self as usize]
    }

    /// The type whose index (`as u8`) is `i`; Unknown past the end.
    pub fn from_index(i: usize) -> FdType {
        Self::ALL.get(i).copied().unwrap_or(FdType::Unknown)
    }
}

/// What the readlink target alone tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    /// `socket:[ino]` / `pipe:[ino]`: type and inode known, no stat needed.
    Known(FdType, u64),
    /// `anon_inode:[eventpoll]` and friends: type known, the inode comes from stat.
    Anon(FdType),
    /// A path (or a pseudo-filesystem name like `net:[4026531833]`): stat decides.
    NeedsStat,
}

fn bracketed_number(rest: &str) -> Option<u64> {
    rest.strip_prefix('[')?.strip_suffix(']')?.parse().ok()
}

/// Classifies a readlink target of /proc/<pid>/fd/<n>.
pub fn classify_target(target: &str) -> TargetKind {
    if let Some(rest) = target.strip_prefix("socket:") {
        if let Some(ino) = bracketed_number(rest) {
            return TargetKind::Known(FdType::Socket, ino);
        }
    } else if let Some(rest) = target.strip_prefix("pipe:") {
        if let Some(ino) = bracketed_number(rest) {
            return TargetKind::Known(FdType::Pipe, ino);
        }
    } else if let Some(name) = target.strip_prefix("anon_inode:") {
        // most names are bracketed ("[eventfd]"), inotify's is not ("inotify")
        let name = name.trim_start_matches('[').trim_end_matches(']');
        let t = match name {
            "eventpoll" => FdType::Epoll,
            "eventfd" => FdType::EventFd,
            "timerfd" => FdType::TimerFd,
            "signalfd" => FdType::SignalFd,
            "inotify" => FdType::Inotify,
            "pidfd" => FdType::PidFd,
            "io_uring" => FdType::IoUring,
            _ => FdType::Anon,
        };
        return TargetKind::Anon(t);
    } else if target.starts_with("pidfd:") {
        // pidfs (Linux 6.9+) may name pidfds this way
        return TargetKind::Anon(FdType::PidFd);
    }
    TargetKind::NeedsStat
}

/// The type from `st_mode` for a target that is a path.
pub fn type_from_mode(mode: u32, target: &str) -> FdType {
    const S_IFMT: u32 = 0o170000;
    match mode & S_IFMT {
        0o100000 => {
            // nsfs ("net:[4026531833]") and other pseudo files stat as regular files but are
            // not files anyone opened by path
            if target.starts_with('/') {
                FdType::File
            } else {
                FdType::Unknown
            }
        }
        0o040000 => FdType::Directory,
        // a path that stats as a socket is a unix socket's file held by an O_PATH descriptor
        // (open(2) of a socket file fails otherwise): a path, not a socket
        0o140000 if target.starts_with('/') => FdType::File,
        0o140000 => FdType::Socket,
        0o010000 => FdType::Fifo,
        0o020000 => FdType::CharDevice,
        0o060000 => FdType::BlockDevice,
        _ => FdType::Unknown,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpollWatch {
    pub tfd: i64,
    pub events: u32,
    pub inode: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InotifyWatch {
    pub wd: i64,
    pub inode: Option<u64>,
    pub device: Option<u64>,
    pub mask: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TimerFd {
    pub clock_id: i64,
    pub ticks: u64,
    pub settime_flags: u32,
    /// Time left to the next expiry, ms (0 = disarmed).
    pub value_ms: f64,
    /// Period, ms (0 = one-shot).
    pub interval_ms: f64,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct FdInfo {
    pub pos: Option<u64>,
    /// Octal in the file; f_flags as the kernel keeps them.
    pub flags: Option<u32>,
    pub ino: Option<u64>,
    pub epoll: Vec<EpollWatch>,
    pub eventfd_count: Option<u64>,
    pub eventfd_semaphore: Option<bool>,
    pub timerfd: Option<TimerFd>,
    pub inotify: Vec<InotifyWatch>,
}

/// "key: value key2: value2" pairs on one fdinfo line (epoll, inotify lines); the value is the
/// token after the key.
fn token_after<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let mut it = line.split_ascii_whitespace();
    while let Some(tok) = it.next() {
        if let Some(v) = tok.strip_prefix(key) {
            if v.is_empty() {
                return it.next();
            }
            return Some(v);
        }
    }
    None
}

/// "(9, 998941511)" -> ms
fn timespec_ms(s: &str) -> Option<f64> {
    let inner = s.trim().strip_prefix('(')?.strip_suffix(')')?;
    let (sec, nsec) = inner.split_once(',')?;
    let sec: f64 = sec.trim().parse().ok()?;
    let nsec: f64 = nsec.trim().parse().ok()?;
    Some(sec * 1e3 + nsec / 1e6)
}

/// Parses one fdinfo file. Unknown lines are skipped; a missing line leaves its field None.
pub fn parse_fdinfo(text: &[u8]) -> FdInfo {
    let text = String::from_utf8_lossy(text);
    let mut info = FdInfo::default();
    let mut clock_id = None;
    let mut ticks = None;
    let mut settime_flags = None;
    let mut value_ms = None;
    let mut interval_ms = None;
    for line in text.lines() {
        if line.starts_with("tfd:") {
            let tfd = token_after(line, "tfd:").and_then(|v| v.parse().ok());
            let events = token_after(line, "events:").and_then(hex);
            if let (Some(tfd), Some(events)) = (tfd, events) {
                info.epoll.push(EpollWatch {
                    tfd,
                    events: events as u32,
                    inode: token_after(line, "ino:").and_then(hex),
                });
            }
            continue;
        }
        if line.starts_with("inotify ") {
            // fs/notify/fdinfo.c prints the watch descriptor in hex ("wd:%x"), like the rest
            let wd = token_after(line, "wd:")
                .and_then(hex)
                .and_then(|v| i64::try_from(v).ok());
            let mask = token_after(line, "mask:").and_then(hex);
            if let (Some(wd), Some(mask)) = (wd, mask) {
                info.inotify.push(InotifyWatch {
                    wd,
                    inode: token_after(line, "ino:").and_then(hex),
                    device: token_after(line, "sdev:").and_then(hex),
                    mask: mask as u32,
                });
            }
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key {
            "pos" => info.pos = value.parse().ok(),
            "flags" => info.flags = u32::from_str_radix(value, 8).ok(),
            "ino" => info.ino = value.parse().ok(),
            "eventfd-count" => info.eventfd_count = hex(value),
            "eventfd-semaphore" => {
                info.eventfd_semaphore = value.parse::<u8>().ok().map(|v| v != 0)
            }
            "clockid" => clock_id = value.parse().ok(),
            "ticks" => ticks = value.parse().ok(),
            "settime flags" => settime_flags = u32::from_str_radix(value, 8).ok(),
            "it_value" => value_ms = timespec_ms(value),
            "it_interval" => interval_ms = timespec_ms(value),
            _ => {}
        }
    }
    if let (Some(clock_id), Some(value_ms), Some(interval_ms)) = (clock_id, value_ms, interval_ms) {
        info.timerfd = Some(TimerFd {
            clock_id,
            ticks: ticks.unwrap_or(0),
            settime_flags: settime_flags.unwrap_or(0),
            value_ms,
            interval_ms,
        });
    }
    info
}

/// Open flags as names, access mode first ("O_RDWR", "O_NONBLOCK", "O_CLOEXEC", ...), for the
/// generic (x86-64 / aarch64 asm-generic) values the kernel prints in fdinfo.
pub fn open_flag_names(flags: u32) -> Vec<&'static str> {
    let mut out = Vec::with_capacity(4);
    out.push(match flags & 0o3 {
        0 => "O_RDONLY",
        1 => "O_WRONLY",
        2 => "O_RDWR",
        _ => "O_ACCMODE",
    });
    // asm-generic/fcntl.h; aarch64 differs for O_DIRECTORY/O_NOFOLLOW/O_DIRECT/O_LARGEFILE
    #[cfg(target_arch = "aarch64")]
    const ARCH: [(u32, &str); 4] = [
        (0o040000, "O_DIRECTORY"),
        (0o100000, "O_NOFOLLOW"),
        (0o200000, "O_DIRECT"),
        (0o400000, "O_LARGEFILE"),
    ];
    #[cfg(not(target_arch = "aarch64"))]
    const ARCH: [(u32, &str); 4] = [
        (0o040000, "O_DIRECT"),
        (0o100000, "O_LARGEFILE"),
        (0o200000, "O_DIRECTORY"),
        (0o400000, "O_NOFOLLOW"),
    ];
    const COMMON: [(u32, &str); 10] = [
        (0o100, "O_CREAT"),
        (0o200, "O_EXCL"),
        (0o400, "O_NOCTTY"),
        (0o1000, "O_TRUNC"),
        (0o2000, "O_APPEND"),
        (0o4000, "O_NONBLOCK"),
        (0o10000, "O_DSYNC"),
        (0o20000, "O_ASYNC"),
        (0o1000000, "O_NOATIME"),
        (0o2000000, "O_CLOEXEC"),
    ];
    for (bit, name) in COMMON.iter().chain(ARCH.iter()) {
        if flags & bit != 0 {
            out.push(name);
        }
    }
    // __O_SYNC (with O_DSYNC = O_SYNC), O_PATH, __O_TMPFILE
    if flags & 0o4000000 != 0 {
        out.push("O_SYNC");
    }
    if flags & 0o10000000 != 0 {
        out.push("O_PATH");
    }
    if flags & 0o20000000 != 0 {
        out.push("O_TMPFILE");
    }
    out
}

/// epoll event bits as names.
pub fn epoll_event_names(events: u32) -> Vec<&'static str> {
    const BITS: [(u32, &str); 14] = [
        (0x001, "EPOLLIN"),
        (0x002, "EPOLLPRI"),
        (0x004, "EPOLLOUT"),
        (0x008, "EPOLLERR"),
        (0x010, "EPOLLHUP"),
        (0x040, "EPOLLRDNORM"),
        (0x080, "EPOLLRDBAND"),
        (0x100, "EPOLLWRNORM"),
        (0x200, "EPOLLWRBAND"),
        (0x400, "EPOLLMSG"),
        (0x2000, "EPOLLRDHUP"),
        (1 << 28, "EPOLLEXCLUSIVE"),
        (1 << 29, "EPOLLWAKEUP"),
        (1 << 30, "EPOLLONESHOT"),
    ];
    let mut out: Vec<&'static str> = BITS
        .iter()
        .filter(|(b, _)| events & b != 0)
        .map(|(_, n)| *n)
        .collect();
    if events & (1 << 31) != 0 {
        out.push("EPOLLET");
    }
    out
}

/// inotify mask bits as names.
pub fn inotify_mask_names(mask: u32) -> Vec<&'static str> {
    const BITS: [(u32, &str); 18] = [
        (0x001, "IN_ACCESS"),
        (0x002, "IN_MODIFY"),
        (0x004, "IN_ATTRIB"),
        (0x008, "IN_CLOSE_WRITE"),
        (0x010, "IN_CLOSE_NOWRITE"),
        (0x020, "IN_OPEN"),
        (0x040, "IN_MOVED_FROM"),
        (0x080, "IN_MOVED_TO"),
        (0x100, "IN_CREATE"),
        (0x200, "IN_DELETE"),
        (0x400, "IN_DELETE_SELF"),
        (0x800, "IN_MOVE_SELF"),
        (0x0100_0000, "IN_ONLYDIR"),
        (0x0200_0000, "IN_DONT_FOLLOW"),
        (0x0400_0000, "IN_EXCL_UNLINK"),
        (0x1000_0000, "IN_MASK_CREATE"),
        (0x2000_0000, "IN_MASK_ADD"),
        (0x8000_0000, "IN_ONESHOT"),
    ];
    BITS.iter()
        .filter(|(b, _)| mask & b != 0)
        .map(|(_, n)| *n)
        .collect()
}

/// Clock names of timerfd_create(2).
pub fn clock_name(id: i64) -> &'static str {
    match id {
        0 => "realtime",
        1 => "monotonic",
        7 => "boottime",
        8 => "realtime-alarm",
        9 => "boottime-alarm",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // captured on Linux 6.18 (tabs as the kernel prints them)
    const EPOLL: &str = "pos:\t0\nflags:\t02000002\nmnt_id:\t17\nino:\t1038\ntfd:        6 events:       1c data:                6  pos:0 ino:3439 sdev:f\ntfd:        5 events: 80000019 data:                5  pos:0 ino:3439 sdev:f\n";
    const EVENTFD: &str = "pos:\t0\nflags:\t04002\nmnt_id:\t17\nino:\t1038\neventfd-count:                5\neventfd-id: 40\neventfd-semaphore: 0\n";
    const TIMERFD: &str = "pos:\t0\nflags:\t02\nmnt_id:\t17\nino:\t1038\nclockid: 1\nticks: 0\nsettime flags: 00\nit_value: (9, 998941511)\nit_interval: (2, 500)\n";
    const INOTIFY: &str = "pos:\t0\nflags:\t00\nmnt_id:\t17\nino:\t1038\ninotify wd:1 ino:3c4a7 sdev:fe00000 mask:300 ignored_mask:0 fhandle-bytes:8 fhandle-type:1 f_handle:a7c4030000000000\n";
    const FILE: &str = "pos:\t4096\nflags:\t02102001\nmnt_id:\t24\nino:\t3\n";

    #[test]
    fn epoll_watch_list() {
        let i = parse_fdinfo(EPOLL.as_bytes());
        assert_eq!(i.pos, Some(0));
        assert_eq!(i.flags, Some(0o2000002));
        assert_eq!(i.ino, Some(1038));
        assert_eq!(
            i.epoll,
            vec![
                EpollWatch {
                    tfd: 6,
                    events: 0x1c,
                    inode: Some(0x3439)
                },
                EpollWatch {
                    tfd: 5,
                    events: 0x8000_0019,
                    inode: Some(0x3439)
                }
            ]
        );
        assert_eq!(
            epoll_event_names(0x8000_0019),
            vec!["EPOLLIN", "EPOLLERR", "EPOLLHUP", "EPOLLET"]
        );
        assert_eq!(
            epoll_event_names(0x1c),
            vec!["EPOLLOUT", "EPOLLERR", "EPOLLHUP"]
        );
    }

    #[test]
    fn eventfd_timerfd_inotify() {
        let e = parse_fdinfo(EVENTFD.as_bytes());
        assert_eq!(e.eventfd_count, Some(5));
        assert_eq!(e.eventfd_semaphore, Some(false));
        assert_eq!(
            open_flag_names(e.flags.unwrap()),
            vec!["O_RDWR", "O_NONBLOCK"]
        );

        let t = parse_fdinfo(TIMERFD.as_bytes()).timerfd.unwrap();
        assert_eq!(t.clock_id, 1);
        assert_eq!(clock_name(t.clock_id), "monotonic");
        assert!((t.value_ms - 9998.941511).abs() < 1e-6);
        assert!((t.interval_ms - 2000.0005).abs() < 1e-9);

        let n = parse_fdinfo(INOTIFY.as_bytes());
        assert_eq!(
            n.inotify,
            vec![InotifyWatch {
                wd: 1,
                inode: Some(0x3c4a7),
                device: Some(0xfe00000),
                mask: 0x300
            }]
        );
        assert_eq!(inotify_mask_names(0x300), vec!["IN_CREATE", "IN_DELETE"]);
        // the watch descriptor is hex (captured on Linux 6.18 with 16 watches: wd:10 is 16th)
        let many = parse_fdinfo(b"pos:\t0\nflags:\t00\nmnt_id:\t17\nino:\t1039\ninotify wd:10 ino:99c109 sdev:fe00000 mask:2 ignored_mask:0 fhandle-bytes:8 fhandle-type:1 f_handle:09c19900917726d1\ninotify wd:a ino:99c0a9 sdev:fe00000 mask:2 ignored_mask:0 fhandle-bytes:8 fhandle-type:1 f_handle:a9c099004f394ba0\n");
        assert_eq!(
            many.inotify.iter().map(|w| w.wd).collect::<Vec<_>>(),
            vec![16, 10]
        );
        assert!(n.timerfd.is_none() && n.epoll.is_empty());
    }

    #[test]
    fn file_flags() {
        let f = parse_fdinfo(FILE.as_bytes());
        assert_eq!(f.pos, Some(4096));
        #[cfg(target_arch = "x86_64")]
        assert_eq!(
            open_flag_names(f.flags.unwrap()),
            vec!["O_WRONLY", "O_APPEND", "O_CLOEXEC", "O_LARGEFILE"]
        );
        assert_eq!(open_flag_names(0), vec!["O_RDONLY"]);
        assert_eq!(
            open_flag_names(0o12000000),
            vec!["O_RDONLY", "O_CLOEXEC", "O_PATH"]
        );
        // an empty or truncated file gives Nones, not a panic
        assert_eq!(parse_fdinfo(b""), FdInfo::default());
        assert_eq!(parse_fdinfo(b"pos:\tx\nflags:\t9\ntfd: 3\n").pos, None);
    }

    #[test]
    fn targets() {
        assert_eq!(
            classify_target("socket:[13370]"),
            TargetKind::Known(FdType::Socket, 13370)
        );
        assert_eq!(
            classify_target("pipe:[42]"),
            TargetKind::Known(FdType::Pipe, 42)
        );
        assert_eq!(
            classify_target("anon_inode:[eventpoll]"),
            TargetKind::Anon(FdType::Epoll)
        );
        assert_eq!(
            classify_target("anon_inode:inotify"),
            TargetKind::Anon(FdType::Inotify)
        );
        assert_eq!(
            classify_target("anon_inode:[pidfd]"),
            TargetKind::Anon(FdType::PidFd)
        );
        assert_eq!(
            classify_target("anon_inode:[io_uring]"),
            TargetKind::Anon(FdType::IoUring)
        );
        assert_eq!(
            classify_target("anon_inode:[userfaultfd]"),
            TargetKind::Anon(FdType::Anon)
        );
        assert_eq!(classify_target("/tmp/socket:[1]"), TargetKind::NeedsStat);
        assert_eq!(classify_target("socket:[oops]"), TargetKind::NeedsStat);
        assert_eq!(type_from_mode(0o100644, "/x"), FdType::File);
        assert_eq!(
            type_from_mode(0o100444, "net:[4026531833]"),
            FdType::Unknown
        );
        assert_eq!(type_from_mode(0o41777, "/tmp"), FdType::Directory);
        assert_eq!(type_from_mode(0o20666, "/dev/null"), FdType::CharDevice);
        assert_eq!(type_from_mode(0o10644, "/tmp/fifo"), FdType::Fifo);
        // O_PATH on a unix socket's file
        assert_eq!(type_from_mode(0o140755, "/tmp/s.sock"), FdType::File);
        assert_eq!(type_from_mode(0o60660, "/dev/sda"), FdType::BlockDevice);
    }
}
