//! NETLINK_SOCK_DIAG messages (requests built, replies decoded) and the /proc/net/{tcp,tcp6,
//! udp,udp6,unix} tables: both end as `SocketInfo` records keyed by socket inode.
//! Layouts: linux/netlink.h, linux/inet_diag.h, linux/unix_diag.h, net/ipv4/tcp_ipv4.c.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub const AF_UNIX: u8 = 1;
pub const AF_INET: u8 = 2;
pub const AF_INET6: u8 = 10;
pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;

const NLMSG_HDRLEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// The pre-sock_diag request type (linux/inet_diag.h), still served by inet_diag: its dump is
/// of every TCP socket whatever the family, one walk of the TCP hash tables where the two
/// SOCK_DIAG_BY_FAMILY dumps (AF_INET, AF_INET6) walk them twice.
const TCPDIAG_GETSOCK: u16 = 18;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;

const INET_DIAG_MSG_LEN: usize = 72;
const UNIX_DIAG_MSG_LEN: usize = 16;
const UNIX_DIAG_NAME: u16 = 0;
const UNIX_DIAG_PEER: u16 = 2;
const UNIX_DIAG_RQLEN: u16 = 4;
const UDIAG_SHOW_NAME: u32 = 0x1;
const UDIAG_SHOW_PEER: u32 = 0x4;
const UDIAG_SHOW_RQLEN: u32 = 0x10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Inet,
    Inet6,
    Unix,
}

impl Family {
    /// As Node names them (`socket.remoteFamily`).
    pub fn name(self) -> &'static str {
        match self {
            Family::Inet => "IPv4",
            Family::Inet6 => "IPv6",
            Family::Unix => "unix",
        }
    }
}

/// Hashes a socket or file inode (already well spread, and not chosen by an attacker who could
/// aim at one bucket: they are numbers the kernel hands out) in one multiply, where the
/// default SipHash costs several times more over thousands of sockets.
#[derive(Default, Clone, Copy)]
pub struct InodeHasher(u64);

impl Hasher for InodeHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0 ^ v).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

pub type InodeMap<V> = HashMap<u64, V, BuildHasherDefault<InodeHasher>>;
pub type InodeSet = HashSet<u64, BuildHasherDefault<InodeHasher>>;

/// A socket address as the kernel gives it: an IP address (formatted only when the socket is
/// reported, not for every socket of the namespace) or a unix name.
#[derive(Debug, Clone, PartialEq)]
pub enum Addr {
    Ip(IpAddr),
    Name(String),
}

impl std::fmt::Display for Addr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Addr::Ip(ip) => ip.fmt(f),
            Addr::Name(name) => f.write_str(name),
        }
    }
}

/// One socket as the kernel describes it. Fields the source does not give are None.
#[derive(Debug, Clone, PartialEq)]
pub struct SocketInfo {
    pub inode: u64,
    pub family: Family,
    /// "tcp" | "udp" for inet; "stream" | "dgram" | "seqpacket" for unix.
    pub protocol: &'static str,
    pub state: &'static str,
    pub local_address: Option<Addr>,
    pub local_port: Option<u16>,
    pub remote_address: Option<Addr>,
    pub remote_port: Option<u16>,
    /// unix: the bound name (a path, or "@name" for the abstract namespace).
    pub path: Option<String>,
    /// unix: inode of the connected peer (resolved to its name after the dump).
    pub peer_inode: Option<u64>,
    /// TCP: bytes not yet acked by the peer (for a listener: the backlog); UDP: bytes in the
    /// send buffer; unix: bytes queued to the peer (for a listener: the backlog).
    pub send_queue_bytes: Option<u64>,
    /// TCP: bytes received but not read by the process (listener: connections waiting for
    /// accept); UDP: bytes in the receive buffer; unix: likewise.
    pub recv_queue_bytes: Option<u64>,
}

impl SocketInfo {
    pub fn local_text(&self) -> Option<String> {
        self.local_address.as_ref().map(Addr::to_string)
    }

    pub fn remote_text(&self) -> Option<String> {
        self.remote_address.as_ref().map(Addr::to_string)
    }
}

/// TCP states (include/net/tcp_states.h), as `ss` names them in lower case. Unix sockets and
/// UDP reuse the codes: 1 connected, 7 unconnected, 10 listening.
pub fn socket_state_name(code: u8) -> &'static str {
    match code {
        1 => "established",
        2 => "syn-sent",
        3 => "syn-recv",
        4 => "fin-wait-1",
        5 => "fin-wait-2",
        6 => "time-wait",
        7 => "unconnected",
        8 => "close-wait",
        9 => "last-ack",
        10 => "listen",
        11 => "closing",
        12 => "new-syn-recv",
        13 => "bound-inactive",
        _ => "unknown",
    }
}

fn unix_type_name(t: u8) -> &'static str {
    match t {
        1 => "stream",
        2 => "dgram",
        5 => "seqpacket",
        _ => "unknown",
    }
}

fn nlmsghdr(out: &mut Vec<u8>, payload_len: usize, seq: u32) {
    nlmsghdr_typed(out, SOCK_DIAG_BY_FAMILY, payload_len, seq);
}

fn nlmsghdr_typed(out: &mut Vec<u8>, kind: u16, payload_len: usize, seq: u32) {
    out.extend_from_slice(&((NLMSG_HDRLEN + payload_len) as u32).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    out.extend_from_slice(&seq.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes());
}

/// Every TCP state but TIME_WAIT (6) and NEW_SYN_RECV (12): those are kernel-only minisockets
/// with no inode and no descriptor, and a busy server has thousands of them.
pub const INET_STATES_WITH_FDS: u32 = !((1 << 6) | (1 << 12));

/// A dump request for every inet socket of one family and protocol that can own a descriptor.
pub fn inet_request(family: u8, protocol: u8, seq: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(NLMSG_HDRLEN + 56);
    nlmsghdr(&mut out, 56, seq);
    // struct inet_diag_req_v2: family, protocol, ext, pad, states, inet_diag_sockid (48 bytes)
    out.extend_from_slice(&[family, protocol, 0, 0]);
    out.extend_from_slice(&INET_STATES_WITH_FDS.to_ne_bytes());
    out.extend_from_slice(&[0u8; 48]);
    out
}

/// A TCPDIAG_GETSOCK dump request (struct inet_diag_req): every TCP socket, IPv4 and IPv6,
/// in one walk.
pub fn tcp_compat_request(seq: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(NLMSG_HDRLEN + 60);
    nlmsghdr_typed(&mut out, TCPDIAG_GETSOCK, 60, seq);
    // struct inet_diag_req: family, src_len, dst_len, ext, inet_diag_sockid (48), states, dbs
    out.extend_from_slice(&[AF_INET, 0, 0, 0]);
    out.extend_from_slice(&[0u8; 48]);
    out.extend_from_slice(&INET_STATES_WITH_FDS.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes());
    out
}

/// A dump request for every unix socket with its name, peer and queue lengths.
pub fn unix_request(seq: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(NLMSG_HDRLEN + 24);
    nlmsghdr(&mut out, 24, seq);
    // struct unix_diag_req: family, protocol, pad16, states, ino, show, cookie[2]
    out.extend_from_slice(&[AF_UNIX, 0, 0, 0]);
    out.extend_from_slice(&u32::MAX.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes());
    out.extend_from_slice(&(UDIAG_SHOW_NAME | UDIAG_SHOW_PEER | UDIAG_SHOW_RQLEN).to_ne_bytes());
    out.extend_from_slice(&[0u8; 8]);
    out
}

/// A request for one unix socket by inode (unix_diag_get_exact), with its queue lengths: the
/// reply is one unix_diag_msg (not a dump) or an NLMSG_ERROR.
pub fn unix_exact_request(seq: u32, inode: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(NLMSG_HDRLEN + 24);
    out.extend_from_slice(&((NLMSG_HDRLEN + 24) as u32).to_ne_bytes());
    out.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    out.extend_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    out.extend_from_slice(&seq.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes());
    out.extend_from_slice(&[AF_UNIX, 0, 0, 0]);
    out.extend_from_slice(&u32::MAX.to_ne_bytes());
    out.extend_from_slice(&inode.to_ne_bytes());
    out.extend_from_slice(&UDIAG_SHOW_RQLEN.to_ne_bytes());
    // INET_DIAG_NOCOOKIE: any socket with that inode
    out.extend_from_slice(&[0xffu8; 8]);
    out
}

fn u16_ne(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_ne(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// What one recv() batch of a dump held.
#[derive(Debug, PartialEq, Eq)]
pub enum Batch {
    /// More messages follow in the next recv().
    More,
    /// NLMSG_DONE seen: this dump is complete.
    Done,
    /// NLMSG_ERROR: the kernel refused the request (positive errno).
    Error(i32),
}

const fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Decodes one datagram of a dump reply, appending the sockets found to `out`. Inet sockets
/// for which `keep(inode)` is false are skipped before any allocation (a namespace can hold
/// far more sockets than the process asking); unix sockets are all kept, their names are
/// needed to name the peers of the kept ones.
pub fn decode_batch(buf: &[u8], out: &mut Vec<SocketInfo>, keep: &dyn Fn(u64) -> bool) -> Batch {
    let mut off = 0;
    while off + NLMSG_HDRLEN <= buf.len() {
        let (Some(len), Some(kind)) = (u32_ne(buf, off), u16_ne(buf, off + 4)) else {
            break;
        };
        let len = len as usize;
        if len < NLMSG_HDRLEN || off + len > buf.len() {
            break;
        }
        let payload = &buf[off + NLMSG_HDRLEN..off + len];
        match kind {
            NLMSG_DONE => return Batch::Done,
            NLMSG_ERROR => {
                let errno = u32_ne(payload, 0).map_or(libc_eio(), |e| -(e as i32));
                return if errno == 0 {
                    Batch::Done
                } else {
                    Batch::Error(errno)
                };
            }
            SOCK_DIAG_BY_FAMILY | TCPDIAG_GETSOCK => {
                if let Some(s) = decode_diag_msg(payload, keep) {
                    out.push(s);
                }
            }
            _ => {}
        }
        off += align4(len);
    }
    Batch::More
}

const fn libc_eio() -> i32 {
    5
}

fn inet_addr(family: u8, raw: &[u8]) -> Option<Addr> {
    match family {
        AF_INET => {
            let b: [u8; 4] = raw.get(..4)?.try_into().ok()?;
            Some(Addr::Ip(IpAddr::V4(Ipv4Addr::from(b))))
        }
        AF_INET6 => {
            let b: [u8; 16] = raw.get(..16)?.try_into().ok()?;
            Some(Addr::Ip(IpAddr::V6(Ipv6Addr::from(b))))
        }
        _ => None,
    }
}

/// Decodes one inet_diag_msg or unix_diag_msg payload.
pub fn decode_diag_msg(p: &[u8], keep: &dyn Fn(u64) -> bool) -> Option<SocketInfo> {
    let family = *p.first()?;
    match family {
        AF_INET | AF_INET6 => decode_inet(p, keep),
        AF_UNIX => decode_unix(p),
        _ => None,
    }
}

fn decode_inet(p: &[u8], keep: &dyn Fn(u64) -> bool) -> Option<SocketInfo> {
    if p.len() < INET_DIAG_MSG_LEN {
        return None;
    }
    if !keep(u32_ne(p, 68)? as u64) {
        return None;
    }
    let family = p[0];
    let state = p[1];
    // inet_diag_sockid at 4: sport(be16) dport(be16) src[16] dst[16] if cookie[2]
    let sport = u16::from_be_bytes([p[4], p[5]]);
    let dport = u16::from_be_bytes([p[6], p[7]]);
    let src = &p[8..24];
    let dst = &p[24..40];
    // after the 48-byte id (4..52): expires(52) rqueue(56) wqueue(60) uid(64) inode(68)
    let rqueue = u32_ne(p, 56)?;
    let wqueue = u32_ne(p, 60)?;
    let inode = u32_ne(p, 68)?;
    // the protocol is not in the reply: the caller knows which dump it asked for
    Some(SocketInfo {
        inode: inode as u64,
        family: if family == AF_INET {
            Family::Inet
        } else {
            Family::Inet6
        },
        protocol: "",
        state: socket_state_name(state),
        local_address: inet_addr(family, src),
        local_port: Some(sport),
        remote_address: inet_addr(family, dst),
        remote_port: Some(dport),
        path: None,
        peer_inode: None,
        send_queue_bytes: Some(wqueue as u64),
        recv_queue_bytes: Some(rqueue as u64),
    })
}

/// A unix socket name as `ss` shows it: a path (up to its first NUL), or for the abstract
/// namespace "@" followed by the name with every NUL byte shown as '@' ("\0a\0b" -> "@a@b").
/// One exception to ss: a name that fills all of sun_path (108 bytes) has its trailing NULs
/// dropped — that is padding (Node <= 20 pads `listen('\0name')` to 108 bytes), which ss
/// prints as a hundred '@'. Invalid UTF-8 becomes U+FFFD, as Node shows such names.
pub fn unix_name(raw: &[u8]) -> Option<String> {
    const SUN_PATH_LEN: usize = 108;
    if raw.is_empty() {
        return None;
    }
    if raw[0] == 0 {
        let mut name = &raw[1..];
        if raw.len() >= SUN_PATH_LEN {
            let end = name.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
            name = &name[..end];
        }
        let shown: Vec<u8> = name
            .iter()
            .map(|&b| if b == 0 { b'@' } else { b })
            .collect();
        return Some(format!("@{}", String::from_utf8_lossy(&shown)));
    }
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    Some(String::from_utf8_lossy(&raw[..end]).into_owned())
}

fn decode_unix(p: &[u8]) -> Option<SocketInfo> {
    if p.len() < UNIX_DIAG_MSG_LEN {
        return None;
    }
    let kind = p[1];
    let state = p[2];
    let inode = u32_ne(p, 4)? as u64;
    let mut s = SocketInfo {
        inode,
        family: Family::Unix,
        protocol: unix_type_name(kind),
        state: socket_state_name(state),
        local_address: None,
        local_port: None,
        remote_address: None,
        remote_port: None,
        path: None,
        peer_inode: None,
        send_queue_bytes: None,
        recv_queue_bytes: None,
    };
    // rtattrs: len u16, type u16, data, aligned to 4
    let mut off = UNIX_DIAG_MSG_LEN;
    while off + 4 <= p.len() {
        let len = u16_ne(p, off)? as usize;
        let kind = u16_ne(p, off + 2)?;
        if len < 4 || off + len > p.len() {
            break;
        }
        let data = &p[off + 4..off + len];
        match kind {
            UNIX_DIAG_NAME => s.path = unix_name(data),
            UNIX_DIAG_PEER => s.peer_inode = u32_ne(data, 0).map(u64::from),
            UNIX_DIAG_RQLEN => {
                s.recv_queue_bytes = u32_ne(data, 0).map(u64::from);
                s.send_queue_bytes = u32_ne(data, 4).map(u64::from);
            }
            _ => {}
        }
        off += align4(len);
    }
    s.local_address = s.path.clone().map(Addr::Name);
    Some(s)
}

/// Fills `remote_address` of connected unix sockets with the peer's name (and `path` with it
/// when the socket has no name of its own: a client of /run/x.sock shows that path).
pub fn link_unix_peers(sockets: &mut InodeMap<SocketInfo>) {
    let names: Vec<(u64, Option<String>)> = sockets
        .values()
        .filter_map(|s| {
            let peer = s.peer_inode?;
            let name = sockets.get(&peer).and_then(|p| p.path.clone());
            Some((s.inode, name))
        })
        .collect();
    for (inode, name) in names {
        if let Some(s) = sockets.get_mut(&inode) {
            if s.path.is_none() {
                s.path = name.clone();
            }
            s.remote_address = name.map(Addr::Name);
        }
    }
}

// ---- /proc/net fallback ----

/// "0100007F:0CEA" (IPv4) or 32 hex digits ":port" (IPv6): the address words are printed in
/// host byte order, the port as a number.
fn proc_net_endpoint(s: &str, v6: bool) -> Option<(Addr, u16)> {
    let (addr, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let mut bytes = [0u8; 16];
    let words = if v6 { 4 } else { 1 };
    if addr.len() != 8 * words {
        return None;
    }
    for w in 0..words {
        let word = u32::from_str_radix(addr.get(w * 8..w * 8 + 8)?, 16).ok()?;
        bytes[w * 4..w * 4 + 4].copy_from_slice(&word.to_ne_bytes());
    }
    let ip = if v6 {
        IpAddr::V6(Ipv6Addr::from(bytes))
    } else {
        IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]))
    };
    Some((Addr::Ip(ip), port))
}

/// TCP_LISTEN in the st column of /proc/net/tcp.
const TCP_LISTEN_STATE: u8 = 0x0a;

/// Parses /proc/net/{tcp,tcp6,udp,udp6}; `protocol` "tcp" or "udp". A TCP listener's send
/// queue is None: the file does not carry its backlog.
pub fn parse_proc_net_inet(
    text: &[u8],
    v6: bool,
    protocol: &'static str,
    out: &mut Vec<SocketInfo>,
) {
    let text = String::from_utf8_lossy(text);
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_ascii_whitespace().collect();
        // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
        if f.len() < 10 {
            continue;
        }
        let (Some((la, lp)), Some((ra, rp))) =
            (proc_net_endpoint(f[1], v6), proc_net_endpoint(f[2], v6))
        else {
            continue;
        };
        let Ok(state) = u8::from_str_radix(f[3], 16) else {
            continue;
        };
        let Some((tx, rx)) = f[4].split_once(':') else {
            continue;
        };
        let Ok(inode) = f[9].parse::<u64>() else {
            continue;
        };
        out.push(SocketInfo {
            inode,
            family: if v6 { Family::Inet6 } else { Family::Inet },
            protocol,
            state: socket_state_name(state),
            local_address: Some(la),
            local_port: Some(lp),
            remote_address: Some(ra),
            remote_port: Some(rp),
            path: None,
            peer_inode: None,
            // a TCP listener's tx_queue column is 0 (write_seq - snd_una), not its backlog,
            // which netlink gives (idiag_wqueue) and this file does not; rx_queue is the accept
            // queue in both (sk_ack_backlog)
            send_queue_bytes: (!(protocol == "tcp" && state == TCP_LISTEN_STATE))
                .then(|| u64::from_str_radix(tx, 16).ok())
                .flatten(),
            recv_queue_bytes: u64::from_str_radix(rx, 16).ok(),
        });
    }
}

/// The fields of an entry's first line in /proc/net/unix (net/unix/af_unix.c unix_seq_show:
/// "%pK: %08X %08X %08X %04X %02X %5lu", then " " and the name when the socket has one).
struct ProcUnixEntry<'a> {
    flags: u32,
    kind: u8,
    st: u8,
    inode: u64,
    /// The name as the kernel prints it: '@' for the abstract namespace's leading NUL and for
    /// every NUL in the name, every other byte raw (newlines too).
    name: Option<&'a [u8]>,
}

/// `line` read as the first line of an entry; None when it is not laid out exactly so (then it
/// is the rest of the name before it, which held a newline).
fn proc_unix_entry(line: &[u8]) -> Option<ProcUnixEntry<'_>> {
    let colon = line.iter().position(|&b| b == b':')?;
    if colon == 0 || !line[..colon].iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let mut rest = &line[colon + 1..];
    // " " and exactly `width` upper-case hex digits
    let mut hex = |width: usize| -> Option<u32> {
        let f = rest.get(..=width)?;
        let digits = &f[1..];
        if f[0] != b' '
            || !digits
                .iter()
                .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(b))
        {
            return None;
        }
        rest = &rest[width + 1..];
        u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
    };
    let (_refs, _proto, flags, kind, st) = (hex(8)?, hex(8)?, hex(8)?, hex(4)?, hex(2)?);
    // " %5lu": a space, the inode right-aligned in five columns (or more digits)
    let pad = rest.iter().skip(1).take_while(|&&b| b == b' ').count();
    let digits = rest.get(1 + pad..)?;
    let n = digits.iter().take_while(|b| b.is_ascii_digit()).count();
    if rest.first() != Some(&b' ') || n == 0 || pad + n < 5 {
        return None;
    }
    let inode = std::str::from_utf8(&digits[..n])
        .ok()?
        .parse::<u64>()
        .ok()?;
    let name = match &digits[n..] {
        [] => None,
        [b' ', name @ ..] => Some(name),
        _ => return None,
    };
    Some(ProcUnixEntry {
        flags,
        kind: u8::try_from(kind).ok()?,
        st: u8::try_from(st).ok()?,
        inode,
        name,
    })
}

/// A name /proc/net/unix printed, shown as unix_name() shows what netlink gives: a name that
/// fills sun_path (108 bytes) has its trailing '@'s dropped as padding — the file prints a
/// NUL and a real '@' alike, so a full-length name that really ends in '@'s loses them here.
fn proc_unix_name(printed: &[u8]) -> String {
    const SUN_PATH_LEN: usize = 108;
    let mut name = printed;
    if name.first() == Some(&b'@') && name.len() >= SUN_PATH_LEN {
        let end = name.iter().rposition(|&b| b != b'@').map_or(1, |i| i + 1);
        name = &name[..end];
    }
    String::from_utf8_lossy(name).into_owned()
}

/// Parses /proc/net/unix: no queues and no peers there, so those stay None. The file prints
/// names raw, so a name holding a newline goes on over the next lines: a line that is not laid
/// out as an entry is joined to the name before it. (A name holding a newline followed by text
/// laid out exactly as an entry cannot be told from two entries; netlink has no such limit.)
pub fn parse_proc_net_unix(text: &[u8], out: &mut Vec<SocketInfo>) {
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    let mut lines = body.split(|&b| b == b'\n');
    // the header: "Num       RefCount Protocol Flags    Type St Inode Path"
    lines.next();
    let mut entries: Vec<(ProcUnixEntry<'_>, Option<Vec<u8>>)> = Vec::new();
    for line in lines {
        match proc_unix_entry(line) {
            Some(e) => {
                let name = e.name.map(<[u8]>::to_vec);
                entries.push((e, name));
            }
            None => {
                if let Some((_, Some(name))) = entries.last_mut() {
                    name.push(b'\n');
                    name.extend_from_slice(line);
                }
            }
        }
    }
    for (e, name) in entries {
        let path = name.map(|n| proc_unix_name(&n));
        // __SO_ACCEPTCON marks a listener; St is the socket_state (SS_CONNECTED = 3)
        let state = if e.flags & 0x10000 != 0 {
            "listen"
        } else {
            match e.st {
                2 => "syn-sent",
                3 => "established",
                _ => "unconnected",
            }
        };
        out.push(SocketInfo {
            inode: e.inode,
            family: Family::Unix,
            protocol: unix_type_name(e.kind),
            state,
            local_address: path.clone().map(Addr::Name),
            local_port: None,
            remote_address: None,
            remote_port: None,
            path,
            peer_inode: None,
            send_queue_bytes: None,
            recv_queue_bytes: None,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_names_read_as_ss_shows_them() {
        assert_eq!(unix_name(b""), None);
        assert_eq!(unix_name(b"/run/a.sock").as_deref(), Some("/run/a.sock"));
        assert_eq!(unix_name(b"/run/a\nb\0\0").as_deref(), Some("/run/a\nb"));
        assert_eq!(unix_name(b"\0ks\0odd").as_deref(), Some("@ks@odd"));
        // trailing NULs of a short name are part of it (ss: '@')
        assert_eq!(unix_name(b"\0x\0\0").as_deref(), Some("@x@@"));
        // padded to the whole sun_path (Node 20): the padding is dropped
        let mut padded = b"\0ks\0odd".to_vec();
        padded.resize(108, 0);
        assert_eq!(unix_name(&padded).as_deref(), Some("@ks@odd"));
        assert_eq!(unix_name(&[0u8; 108]).as_deref(), Some("@"));
    }

    #[allow(clippy::too_many_arguments)]
    fn inet_msg(
        family: u8,
        state: u8,
        sport: u16,
        dport: u16,
        src: [u8; 16],
        dst: [u8; 16],
        rq: u32,
        wq: u32,
        inode: u32,
    ) -> Vec<u8> {
        let mut p = vec![family, state, 0, 0];
        p.extend_from_slice(&sport.to_be_bytes());
        p.extend_from_slice(&dport.to_be_bytes());
        p.extend_from_slice(&src);
        p.extend_from_slice(&dst);
        p.extend_from_slice(&[0u8; 12]); // if, cookie
        p.extend_from_slice(&0u32.to_ne_bytes()); // expires
        p.extend_from_slice(&rq.to_ne_bytes());
        p.extend_from_slice(&wq.to_ne_bytes());
        p.extend_from_slice(&1000u32.to_ne_bytes()); // uid
        p.extend_from_slice(&inode.to_ne_bytes());
        p
    }

    fn wrap(kind: u16, payload: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&((16 + payload.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&2u16.to_ne_bytes());
        m.extend_from_slice(&[0u8; 8]);
        m.extend_from_slice(payload);
        while m.len() % 4 != 0 {
            m.push(0);
        }
        m
    }

    #[test]
    fn requests_have_the_kernel_sizes() {
        let r = inet_request(AF_INET, IPPROTO_TCP, 7);
        assert_eq!(r.len(), 72);
        assert_eq!(u32::from_ne_bytes(r[0..4].try_into().unwrap()), 72);
        assert_eq!(r[16], AF_INET);
        assert_eq!(r[17], IPPROTO_TCP);
        let c = tcp_compat_request(9);
        assert_eq!(c.len(), 16 + 60);
        assert_eq!(
            u16::from_ne_bytes(c[4..6].try_into().unwrap()),
            TCPDIAG_GETSOCK
        );
        assert_eq!(
            u32::from_ne_bytes(c[68..72].try_into().unwrap()),
            INET_STATES_WITH_FDS
        );
        let u = unix_request(8);
        assert_eq!(u.len(), 40);
        assert_eq!(u[16], AF_UNIX);
    }

    #[test]
    fn inet_batch_then_done() {
        let mut src = [0u8; 16];
        src[..4].copy_from_slice(&[127, 0, 0, 1]);
        let mut dst = [0u8; 16];
        dst[..4].copy_from_slice(&[127, 0, 0, 1]);
        let mut buf = wrap(20, &inet_msg(AF_INET, 1, 40000, 8080, src, dst, 3, 5, 4242));
        let v6 = {
            let mut a = [0u8; 16];
            a[15] = 1;
            a
        };
        buf.extend(wrap(
            20,
            &inet_msg(AF_INET6, 10, 443, 0, v6, [0; 16], 0, 511, 99),
        ));
        let mut out = Vec::new();
        assert_eq!(decode_batch(&buf, &mut out, &|_| true), Batch::More);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].inode, 4242);
        assert_eq!(out[0].state, "established");
        assert_eq!(out[0].local_text().as_deref(), Some("127.0.0.1"));
        assert_eq!(out[0].local_port, Some(40000));
        assert_eq!(out[0].remote_port, Some(8080));
        assert_eq!(out[0].recv_queue_bytes, Some(3));
        assert_eq!(out[0].send_queue_bytes, Some(5));
        assert_eq!(out[1].family, Family::Inet6);
        assert_eq!(out[1].state, "listen");
        assert_eq!(out[1].local_text().as_deref(), Some("::1"));
        assert_eq!(out[1].remote_text().as_deref(), Some("::"));
        // a filter skips inet sockets that are not wanted
        let mut few = Vec::new();
        decode_batch(&buf, &mut few, &|ino| ino == 99);
        assert_eq!(few.len(), 1);
        assert_eq!(few[0].inode, 99);
        let done = wrap(3, &0u32.to_ne_bytes());
        assert_eq!(decode_batch(&done, &mut out, &|_| true), Batch::Done);
        let err = wrap(2, &(-13i32).to_ne_bytes());
        assert_eq!(decode_batch(&err, &mut out, &|_| true), Batch::Error(13));
        // a truncated message is ignored, not read past
        assert_eq!(decode_batch(&buf[..30], &mut out, &|_| true), Batch::More);
    }

    #[test]
    fn unix_with_name_peer_and_queues() {
        let mut p = vec![AF_UNIX, 1, 1, 0];
        p.extend_from_slice(&77u32.to_ne_bytes());
        p.extend_from_slice(&[0u8; 8]);
        let name = b"\0kernelscope";
        p.extend_from_slice(&((4 + name.len()) as u16).to_ne_bytes());
        p.extend_from_slice(&0u16.to_ne_bytes());
        p.extend_from_slice(name);
        while p.len() % 4 != 0 {
            p.push(0);
        }
        p.extend_from_slice(&8u16.to_ne_bytes());
        p.extend_from_slice(&2u16.to_ne_bytes());
        p.extend_from_slice(&78u32.to_ne_bytes());
        p.extend_from_slice(&12u16.to_ne_bytes());
        p.extend_from_slice(&4u16.to_ne_bytes());
        p.extend_from_slice(&10u32.to_ne_bytes());
        p.extend_from_slice(&20u32.to_ne_bytes());
        let s = decode_diag_msg(&p, &|_| false).unwrap();
        assert_eq!(s.inode, 77);
        assert_eq!(s.protocol, "stream");
        assert_eq!(s.state, "established");
        assert_eq!(s.path.as_deref(), Some("@kernelscope"));
        assert_eq!(s.peer_inode, Some(78));
        assert_eq!(s.recv_queue_bytes, Some(10));
        assert_eq!(s.send_queue_bytes, Some(20));

        let mut map = InodeMap::default();
        let mut client = s.clone();
        client.inode = 78;
        client.path = None;
        client.peer_inode = Some(77);
        map.insert(77, s);
        map.insert(78, client);
        link_unix_peers(&mut map);
        assert_eq!(map[&78].remote_text().as_deref(), Some("@kernelscope"));
        assert_eq!(map[&78].path.as_deref(), Some("@kernelscope"));
    }

    #[test]
    fn proc_net_tables() {
        // captured from /proc/net/tcp and tcp6 on x86-64
        let tcp = b"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:1F90 00000000:0000 0A 00000000:00000002 00:00000000 00000000     0        0 31337 1 0000000000000000 100 0 0 10 0\n   1: 0100007F:9C40 0100007F:1F90 01 0000000A:00000000 00:00000000 00000000     0        0 31338 1 0000000000000000 20 4 30 10 -1\n";
        let mut out = Vec::new();
        parse_proc_net_inet(tcp, false, "tcp", &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].state, "listen");
        assert_eq!(out[0].local_text().as_deref(), Some("127.0.0.1"));
        assert_eq!(out[0].local_port, Some(8080));
        assert_eq!(out[0].recv_queue_bytes, Some(2));
        // no backlog in the file: tx_queue is 0 for a listener
        assert_eq!(out[0].send_queue_bytes, None);
        assert_eq!(out[1].state, "established");
        assert_eq!(out[1].remote_port, Some(8080));
        assert_eq!(out[1].send_queue_bytes, Some(10));
        assert_eq!(out[1].inode, 31338);

        let tcp6 = b"  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 555 1 0000000000000000 100 0 0 10 0\n   1: 0000000000000000FFFF00000100007F:1F90 0000000000000000FFFF00000100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 556 1 0000000000000000 20 4 30 10 -1\n";
        out.clear();
        parse_proc_net_inet(tcp6, true, "tcp", &mut out);
        assert_eq!(out[0].local_text().as_deref(), Some("::1"));
        assert_eq!(out[1].local_text().as_deref(), Some("::ffff:127.0.0.1"));
        assert_eq!(out[1].remote_port, Some(0xD431));

        let unix = b"Num       RefCount Protocol Flags    Type St Inode Path\n0000000000000000: 00000002 00000000 00010000 0001 01 20001 /run/app.sock\n0000000000000000: 00000003 00000000 00000000 0001 03 20002\n0000000000000000: 00000002 00000000 00000000 0002 01 20003 @abstract name\n";
        out.clear();
        parse_proc_net_unix(unix, &mut out);
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].state, "listen");
        assert_eq!(out[0].path.as_deref(), Some("/run/app.sock"));
        assert_eq!(out[1].state, "established");
        assert_eq!(out[1].path, None);
        assert_eq!(out[2].protocol, "dgram");
        assert_eq!(out[2].path.as_deref(), Some("@abstract name"));

        // captured on Linux 6.18: an inode below 10000 is padded to five columns ("%5lu")
        let padded = b"Num       RefCount Protocol Flags    Type St Inode Path\n00000000f14d36fc: 00000003 00000000 00000000 0001 03  1165\n00000000f14d36fd: 00000002 00000000 00010000 0001 01    42 /run/a b.sock\n";
        out.clear();
        parse_proc_net_unix(padded, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!((out[0].inode, out[0].path.as_deref()), (1165, None));
        assert_eq!(out[1].inode, 42);
        assert_eq!(out[1].path.as_deref(), Some("/run/a b.sock"));
    }

    #[test]
    fn proc_net_unix_names_with_newlines_padding_and_odd_bytes() {
        let padded = format!("@ks@odd{}", "@".repeat(108 - 7));
        let mut text = b"Num       RefCount Protocol Flags    Type St Inode Path\n".to_vec();
        // a path holding two newlines, one of them last
        text.extend_from_slice(
            b"000000000ad8aa99: 00000002 00000000 00010000 0001 01 106845 /tmp/we\nird\n\n",
        );
        // no name; then a name that starts with a newline
        text.extend_from_slice(b"000000000ad8aa9a: 00000003 00000000 00000000 0001 03  1234\n");
        text.extend_from_slice(
            b"000000000ad8aa9b: 00000002 00000000 00000000 0002 01 106846 \nx\n",
        );
        // Node 20's padded abstract name, an invalid UTF-8 byte, a name of one \x01 byte
        text.extend_from_slice(
            format!("0000000000000000: 00000002 00000000 00010000 0001 01 106847 {padded}\n")
                .as_bytes(),
        );
        text.extend_from_slice(
            b"0000000000000000: 00000002 00000000 00010000 0001 01 106848 /tmp/f\xffo\n",
        );
        text.extend_from_slice(
            b"0000000000000000: 00000002 00000000 00010000 0001 01 106849 \x01\n",
        );
        // a short abstract name ending in NULs keeps them (ss: '@')
        text.extend_from_slice(
            b"0000000000000000: 00000002 00000000 00010000 0001 01 106850 @x@@\n",
        );
        let mut out = Vec::new();
        parse_proc_net_unix(&text, &mut out);
        let names: Vec<(u64, Option<&str>)> =
            out.iter().map(|s| (s.inode, s.path.as_deref())).collect();
        assert_eq!(
            names,
            [
                (106845, Some("/tmp/we\nird\n")),
                (1234, None),
                (106846, Some("\nx")),
                (106847, Some("@ks@odd")),
                (106848, Some("/tmp/f\u{fffd}o")),
                (106849, Some("\u{1}")),
                (106850, Some("@x@@")),
            ]
        );
        assert_eq!(out[0].state, "listen");
        assert_eq!(out[1].state, "established");
        assert_eq!(out[2].protocol, "dgram");
        // a line that only looks like an entry's start (too few inode columns) is part of a name
        let odd = b"Num ...\n0000000000000000: 00000002 00000000 00010000 0001 01 106851 /a\n0: 00000002 00000000 00010000 0001 01 1 b\n";
        out.clear();
        parse_proc_net_unix(odd, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].path.as_deref(),
            Some("/a\n0: 00000002 00000000 00010000 0001 01 1 b")
        );
    }
}
