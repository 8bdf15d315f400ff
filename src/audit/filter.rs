//! The seccomp-bpf program the traced command runs under: SECCOMP_RET_TRACE (with the syscall's
//! kind in the return data) for exec, connect/sendto/sendmsg and the opens; ENOSYS for
//! io_uring_setup (so libuv falls back to plain syscalls that stay visible); everything else
//! runs untouched. The arch field is checked first; x32 and 32-bit (int 0x80 / arm32) numbers
//! have their own tables, and an unknown arch is killed rather than let through unseen.

use crate::sys::trace::SockFilter;

/// What a trapped syscall is (SECCOMP_RET_DATA).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum Kind {
    Execve = 1,
    Execveat = 2,
    Connect = 3,
    Sendto = 4,
    Sendmsg = 5,
    Open = 6,
    Openat = 7,
    Openat2 = 8,
    Creat = 9,
    Socketcall = 10,
}

impl Kind {
    pub fn from_data(d: u32) -> Option<Kind> {
        Some(match d {
            1 => Kind::Execve,
            2 => Kind::Execveat,
            3 => Kind::Connect,
            4 => Kind::Sendto,
            5 => Kind::Sendmsg,
            6 => Kind::Open,
            7 => Kind::Openat,
            8 => Kind::Openat2,
            9 => Kind::Creat,
            10 => Kind::Socketcall,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            Kind::Execve => "execve",
            Kind::Execveat => "execveat",
            Kind::Connect => "connect",
            Kind::Sendto => "sendto",
            Kind::Sendmsg => "sendmsg",
            Kind::Open => "open",
            Kind::Openat => "openat",
            Kind::Openat2 => "openat2",
            Kind::Creat => "creat",
            Kind::Socketcall => "socketcall",
        }
    }
}

pub const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
pub const AUDIT_ARCH_I386: u32 = 0x4000_0003;
pub const AUDIT_ARCH_AARCH64: u32 = 0xC000_00B7;
pub const AUDIT_ARCH_ARM: u32 = 0x4000_0028;
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// Pointers (and struct msghdr) are 32 bits wide for these.
pub fn is_compat(arch: u32, nr: u64) -> bool {
    arch == AUDIT_ARCH_I386
        || arch == AUDIT_ARCH_ARM
        || (arch == AUDIT_ARCH_X86_64 && nr & X32_SYSCALL_BIT as u64 != 0)
}

type Table = &'static [(u32, Kind)];

const X86_64: Table = &[
    (59, Kind::Execve),
    (322, Kind::Execveat),
    (42, Kind::Connect),
    (44, Kind::Sendto),
    (46, Kind::Sendmsg),
    (2, Kind::Open),
    (257, Kind::Openat),
    (437, Kind::Openat2),
    (85, Kind::Creat),
];
/// x32 numbers carry X32_SYSCALL_BIT; exec and sendmsg have x32-only entries (512+).
const X32: Table = &[
    (520, Kind::Execve),
    (545, Kind::Execveat),
    (42, Kind::Connect),
    (44, Kind::Sendto),
    (518, Kind::Sendmsg),
    (2, Kind::Open),
    (257, Kind::Openat),
    (437, Kind::Openat2),
    (85, Kind::Creat),
];
const I386: Table = &[
    (11, Kind::Execve),
    (358, Kind::Execveat),
    (362, Kind::Connect),
    (369, Kind::Sendto),
    (370, Kind::Sendmsg),
    (102, Kind::Socketcall),
    (5, Kind::Open),
    (295, Kind::Openat),
    (437, Kind::Openat2),
    (8, Kind::Creat),
];
/// aarch64 has no open or creat.
#[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
const AARCH64: Table = &[
    (221, Kind::Execve),
    (281, Kind::Execveat),
    (203, Kind::Connect),
    (206, Kind::Sendto),
    (211, Kind::Sendmsg),
    (56, Kind::Openat),
    (437, Kind::Openat2),
];
#[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
const ARM: Table = &[
    (11, Kind::Execve),
    (387, Kind::Execveat),
    (283, Kind::Connect),
    (290, Kind::Sendto),
    (296, Kind::Sendmsg),
    (5, Kind::Open),
    (322, Kind::Openat),
    (437, Kind::Openat2),
    (8, Kind::Creat),
];
const IO_URING_SETUP: u32 = 425;

const LD_W_ABS: u16 = 0x20;
const JEQ_K: u16 = 0x15;
const JGE_K: u16 = 0x35;
const RET_K: u16 = 0x06;
const RET_ALLOW: u32 = 0x7fff_0000;
const RET_TRACE: u32 = 0x7ff0_0000;
const RET_ERRNO: u32 = 0x0005_0000;
const RET_KILL_PROCESS: u32 = 0x8000_0000;
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;

fn ins(code: u16, jt: u8, jf: u8, k: u32) -> SockFilter {
    SockFilter { code, jt, jf, k }
}

/// Compares the loaded nr (plus `bias`) against one table; ends in its own returns.
fn block(table: Table, bias: u32) -> Vec<SockFilter> {
    let mut out = Vec::new();
    for &(nr, kind) in table {
        out.push(ins(JEQ_K, 0, 1, nr | bias));
        out.push(ins(RET_K, 0, 0, RET_TRACE | kind as u32));
    }
    out.push(ins(JEQ_K, 0, 1, IO_URING_SETUP | bias));
    out.push(ins(RET_K, 0, 0, RET_ERRNO | libc::ENOSYS as u32));
    out.push(ins(RET_K, 0, 0, RET_ALLOW));
    out
}

/// The whole program for (native arch, native table, compat arch, compat table); on x86-64 the
/// native block first sends x32 numbers to the x32 block.
fn program(
    native_arch: u32,
    native: Table,
    x32: Option<Table>,
    compat_arch: u32,
    compat: Table,
) -> Vec<SockFilter> {
    let native_body = block(native, 0);
    let x32_body = x32.map(|t| block(t, X32_SYSCALL_BIT)).unwrap_or_default();
    let compat_body = block(compat, 0);
    // native part: ld nr, [jge x32], body, [x32 body]
    let mut native_part = vec![ins(LD_W_ABS, 0, 0, OFF_NR)];
    if x32.is_some() {
        native_part.push(ins(JGE_K, native_body.len() as u8, 0, X32_SYSCALL_BIT));
    }
    native_part.extend(native_body);
    native_part.extend(x32_body);
    let mut compat_part = vec![ins(LD_W_ABS, 0, 0, OFF_NR)];
    compat_part.extend(compat_body);

    let mut prog = vec![
        ins(LD_W_ABS, 0, 0, OFF_ARCH),
        // jt: skip the compat check and the kill (2) to reach the native part
        ins(JEQ_K, 2, 0, native_arch),
        // jt: skip the kill and the native part
        ins(JEQ_K, 1 + native_part.len() as u8, 0, compat_arch),
        ins(RET_K, 0, 0, RET_KILL_PROCESS),
    ];
    prog.extend(native_part);
    prog.extend(compat_part);
    prog
}

/// The filter for the machine this was built for.
pub fn build() -> Vec<SockFilter> {
    #[cfg(target_arch = "aarch64")]
    {
        program(AUDIT_ARCH_AARCH64, AARCH64, None, AUDIT_ARCH_ARM, ARM)
    }
    #[cfg(not(target_arch = "aarch64"))]
    {
        program(AUDIT_ARCH_X86_64, X86_64, Some(X32), AUDIT_ARCH_I386, I386)
    }
}

/// For tests: run `prog` on (arch, nr) like the kernel would.
#[cfg(test)]
fn run(prog: &[SockFilter], arch: u32, nr: u32) -> u32 {
    let mut pc = 0usize;
    let mut acc = 0u32;
    loop {
        let i = prog[pc];
        match i.code {
            LD_W_ABS => {
                acc = if i.k == OFF_ARCH { arch } else { nr };
                pc += 1;
            }
            JEQ_K => pc += 1 + if acc == i.k { i.jt } else { i.jf } as usize,
            JGE_K => pc += 1 + if acc >= i.k { i.jt } else { i.jf } as usize,
            RET_K => return i.k,
            c => panic!("unexpected opcode {c:#x}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x86() -> Vec<SockFilter> {
        program(AUDIT_ARCH_X86_64, X86_64, Some(X32), AUDIT_ARCH_I386, I386)
    }

    #[test]
    fn x86_64_traps_the_listed_syscalls_only() {
        let p = x86();
        assert!(p.len() < 256);
        assert_eq!(
            run(&p, AUDIT_ARCH_X86_64, 59),
            RET_TRACE | Kind::Execve as u32
        );
        assert_eq!(
            run(&p, AUDIT_ARCH_X86_64, 257),
            RET_TRACE | Kind::Openat as u32
        );
        assert_eq!(
            run(&p, AUDIT_ARCH_X86_64, 42),
            RET_TRACE | Kind::Connect as u32
        );
        assert_eq!(
            run(&p, AUDIT_ARCH_X86_64, 85),
            RET_TRACE | Kind::Creat as u32
        );
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, 0), RET_ALLOW); // read
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, 1), RET_ALLOW); // write
        assert_eq!(
            run(&p, AUDIT_ARCH_X86_64, 425),
            RET_ERRNO | libc::ENOSYS as u32
        );
    }

    #[test]
    fn x32_and_i386_numbers_are_trapped_too() {
        let p = x86();
        assert_eq!(
            run(&p, AUDIT_ARCH_X86_64, 520 | X32_SYSCALL_BIT),
            RET_TRACE | Kind::Execve as u32
        );
        assert_eq!(
            run(&p, AUDIT_ARCH_X86_64, 257 | X32_SYSCALL_BIT),
            RET_TRACE | Kind::Openat as u32
        );
        assert_eq!(
            run(&p, AUDIT_ARCH_X86_64, 425 | X32_SYSCALL_BIT),
            RET_ERRNO | libc::ENOSYS as u32
        );
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT), RET_ALLOW);
        assert_eq!(
            run(&p, AUDIT_ARCH_I386, 11),
            RET_TRACE | Kind::Execve as u32
        );
        assert_eq!(
            run(&p, AUDIT_ARCH_I386, 102),
            RET_TRACE | Kind::Socketcall as u32
        );
        assert_eq!(run(&p, AUDIT_ARCH_I386, 5), RET_TRACE | Kind::Open as u32);
        // 59 is execve on x86-64 but not on i386 (it is olduname there)
        assert_eq!(run(&p, AUDIT_ARCH_I386, 59), RET_ALLOW);
        assert_eq!(run(&p, 0x1234, 59), RET_KILL_PROCESS);
    }

    #[test]
    fn aarch64_has_no_open_and_arm32_is_covered() {
        let p = program(AUDIT_ARCH_AARCH64, AARCH64, None, AUDIT_ARCH_ARM, ARM);
        assert_eq!(
            run(&p, AUDIT_ARCH_AARCH64, 56),
            RET_TRACE | Kind::Openat as u32
        );
        assert_eq!(
            run(&p, AUDIT_ARCH_AARCH64, 221),
            RET_TRACE | Kind::Execve as u32
        );
        assert_eq!(run(&p, AUDIT_ARCH_AARCH64, 2), RET_ALLOW);
        assert_eq!(
            run(&p, AUDIT_ARCH_ARM, 283),
            RET_TRACE | Kind::Connect as u32
        );
        assert_eq!(
            run(&p, AUDIT_ARCH_ARM, 425),
            RET_ERRNO | libc::ENOSYS as u32
        );
    }

    #[test]
    fn every_kind_round_trips() {
        for d in 1..=10 {
            assert_eq!(Kind::from_data(d).map(|k| k as u32), Some(d));
        }
        assert_eq!(Kind::from_data(0), None);
    }
}
