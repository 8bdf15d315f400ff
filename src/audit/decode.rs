//! Pure decoding for the tracer: socket addresses as the tracee passed them, lexical path
//! normalisation (no filesystem access: the path is the tracee's, resolved against its cwd or
//! dirfd), and the sensitive-path matcher. Bytes in, values out.

use std::net::{Ipv4Addr, Ipv6Addr};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dest {
    Inet {
        family: &'static str,
        address: String,
        port: u16,
    },
    Unix {
        path: Vec<u8>,
        abstract_ns: bool,
    },
}

/// A sockaddr as connect/sendto/sendmsg received it; None for families that do not leave the
/// host's IPC (netlink, AF_UNSPEC disconnects, packet sockets...).
pub fn sockaddr(b: &[u8]) -> Option<Dest> {
    if b.len() < 2 {
        return None;
    }
    let family = u16::from_ne_bytes([b[0], b[1]]) as i32;
    match family {
        libc::AF_INET if b.len() >= 8 => Some(Dest::Inet {
            family: "inet",
            port: u16::from_be_bytes([b[2], b[3]]),
            address: Ipv4Addr::new(b[4], b[5], b[6], b[7]).to_string(),
        }),
        libc::AF_INET6 if b.len() >= 24 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(&b[8..24]);
            let ip = Ipv6Addr::from(a);
            // ::ffff:a.b.c.d is an IPv4 destination reached through a dual-stack socket
            let address = match ip.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => ip.to_string(),
            };
            Some(Dest::Inet {
                family: "inet6",
                port: u16::from_be_bytes([b[2], b[3]]),
                address,
            })
        }
        libc::AF_UNIX => {
            let rest = &b[2..];
            if rest.is_empty() {
                return None; // unnamed (autobind)
            }
            if rest[0] == 0 {
                Some(Dest::Unix {
                    path: rest[1..].to_vec(),
                    abstract_ns: true,
                })
            } else {
                let end = rest.iter().position(|&c| c == 0).unwrap_or(rest.len());
                Some(Dest::Unix {
                    path: rest[..end].to_vec(),
                    abstract_ns: false,
                })
            }
        }
        _ => None,
    }
}

/// `base` joined with `path` (unless absolute), with `.`, `..` and repeated slashes folded.
/// Symlinks are not followed: `--strict` checks what the descriptor really points at.
pub fn resolve(base: &[u8], path: &[u8]) -> Vec<u8> {
    fn fold<'a>(s: &'a [u8], parts: &mut Vec<&'a [u8]>) {
        for seg in s.split(|&c| c == b'/') {
            match seg {
                b"" | b"." => {}
                b".." => {
                    parts.pop();
                }
                _ => parts.push(seg),
            }
        }
    }
    let mut parts: Vec<&[u8]> = Vec::new();
    if path.first() != Some(&b'/') {
        fold(base, &mut parts);
    }
    fold(path, &mut parts);
    let mut out = Vec::with_capacity(path.len() + base.len() + 1);
    for p in parts {
        out.push(b'/');
        out.extend_from_slice(p);
    }
    if out.is_empty() {
        out.push(b'/');
    }
    out
}

/// Which absolute paths count as secrets: exact files, everything under some directories, and
/// file names (`.env`, `.env.*`) wherever they are.
#[derive(Debug, Default, Clone)]
pub struct Sensitive {
    pub exact: Vec<Vec<u8>>,
    pub dirs: Vec<Vec<u8>>,
    pub names: Vec<Vec<u8>>,
    pub name_prefixes: Vec<Vec<u8>>,
}

impl Sensitive {
    pub fn matches(&self, abs: &[u8]) -> bool {
        if self.exact.iter().any(|e| e.as_slice() == abs) {
            return true;
        }
        for d in &self.dirs {
            let d = d.strip_suffix(b"/").unwrap_or(d);
            if abs.len() > d.len() && abs.starts_with(d) && abs[d.len()] == b'/' {
                return true;
            }
            if abs == d {
                return true;
            }
        }
        let name = match abs.iter().rposition(|&c| c == b'/') {
            Some(i) => &abs[i + 1..],
            None => abs,
        };
        self.names.iter().any(|n| n.as_slice() == name)
            || self.name_prefixes.iter().any(|p| name.starts_with(p))
    }
}

/// `NAME=value` of a /proc/<pid>/environ image.
pub fn env_value<'a>(environ: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    environ.split(|&c| c == 0).find_map(|kv| {
        if kv.len() > name.len() && kv.starts_with(name) && kv[name.len()] == b'=' {
            Some(&kv[name.len() + 1..])
        } else {
            None
        }
    })
}

/// NUL-separated /proc/<pid>/cmdline into its arguments.
pub fn split_nul(b: &[u8]) -> Vec<Vec<u8>> {
    let b = b.strip_suffix(&[0]).unwrap_or(b);
    if b.is_empty() {
        return Vec::new();
    }
    b.split(|&c| c == 0).map(|s| s.to_vec()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inet_addresses() {
        // sockaddr_in 127.0.0.2:8080 as the kernel lays it out
        let mut b = vec![0u8; 16];
        b[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
        b[2..4].copy_from_slice(&8080u16.to_be_bytes());
        b[4..8].copy_from_slice(&[127, 0, 0, 2]);
        assert_eq!(
            sockaddr(&b),
            Some(Dest::Inet {
                family: "inet",
                address: "127.0.0.2".into(),
                port: 8080
            })
        );
        let mut b6 = vec![0u8; 28];
        b6[..2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
        b6[2..4].copy_from_slice(&443u16.to_be_bytes());
        b6[23] = 1;
        assert_eq!(
            sockaddr(&b6),
            Some(Dest::Inet {
                family: "inet6",
                address: "::1".into(),
                port: 443
            })
        );
        b6[18] = 0xff;
        b6[19] = 0xff;
        b6[20..24].copy_from_slice(&[10, 1, 2, 3]);
        assert_eq!(
            sockaddr(&b6),
            Some(Dest::Inet {
                family: "inet6",
                address: "10.1.2.3".into(),
                port: 443
            })
        );
        assert_eq!(sockaddr(&b[..6]), None);
    }

    #[test]
    fn unix_and_other_families() {
        let mut b = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
        b.extend_from_slice(b"/run/x.sock\0\0\0");
        assert_eq!(
            sockaddr(&b),
            Some(Dest::Unix {
                path: b"/run/x.sock".to_vec(),
                abstract_ns: false
            })
        );
        let mut a = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
        a.extend_from_slice(b"\0name\0x");
        assert_eq!(
            sockaddr(&a),
            Some(Dest::Unix {
                path: b"name\0x".to_vec(),
                abstract_ns: true
            })
        );
        let n = (libc::AF_NETLINK as u16).to_ne_bytes().to_vec();
        assert_eq!(sockaddr(&[n, vec![0; 10]].concat()), None);
    }

    #[test]
    fn paths_resolve_lexically() {
        assert_eq!(resolve(b"/home/u", b".npmrc"), b"/home/u/.npmrc");
        assert_eq!(
            resolve(b"/home/u/proj", b"../.ssh/./id_rsa"),
            b"/home/u/.ssh/id_rsa"
        );
        assert_eq!(resolve(b"/x", b"/etc//shadow"), b"/etc/shadow");
        assert_eq!(resolve(b"/", b"../../.."), b"/");
        assert_eq!(resolve(b"/a", b"b\xffc"), b"/a/b\xffc");
    }

    #[test]
    fn sensitive_matching() {
        let s = Sensitive {
            exact: vec![b"/h/.npmrc".to_vec(), b"/etc/shadow".to_vec()],
            dirs: vec![b"/h/.ssh/".to_vec()],
            names: vec![b".env".to_vec()],
            name_prefixes: vec![b".env.".to_vec()],
        };
        assert!(s.matches(b"/h/.npmrc"));
        assert!(s.matches(b"/h/.ssh/id_ed25519"));
        assert!(s.matches(b"/srv/app/.env"));
        assert!(s.matches(b"/srv/app/.env.local"));
        assert!(!s.matches(b"/h/.sshx/id"));
        assert!(!s.matches(b"/h/.npmrcx"));
        assert!(!s.matches(b"/srv/app/.envrc"));
        assert!(!s.matches(b"/etc/passwd"));
    }

    #[test]
    fn environ_and_cmdline() {
        let env = b"A=1\0npm_package_name=evil-pkg\0npm_lifecycle_event=postinstall\0";
        assert_eq!(env_value(env, b"npm_package_name"), Some(&b"evil-pkg"[..]));
        assert_eq!(
            env_value(env, b"npm_lifecycle_event"),
            Some(&b"postinstall"[..])
        );
        assert_eq!(env_value(env, b"npm_package"), None);
        assert_eq!(
            split_nul(b"sh\0-c\0echo hi\0"),
            vec![b"sh".to_vec(), b"-c".to_vec(), b"echo hi".to_vec()]
        );
        assert_eq!(split_nul(b""), Vec::<Vec<u8>>::new());
    }
}
