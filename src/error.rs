//! One error shape for every native failure. The JS layer (lib/errors.js) turns the reason text
//! back into a Node-style error: `code` (errno name or ERR_*), `errno`, `syscall`.

use napi::{Error, Status};

/// Marker the JS layer looks for before parsing the reason as JSON.
const TAG: &str = "KSERR";

/// Appends `s` to `out` as the inside of a JSON string (quotes, backslashes, control chars).
pub fn json_escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    json_escape_into(&mut out, s);
    out
}

/// A refusal by the kernel: errno and the syscall that returned it.
pub fn sys_error(syscall: &str, errno: i32, detail: &str) -> Error {
    Error::new(
        Status::GenericFailure,
        format!(
            "{TAG}{{\"kind\":\"sys\",\"errno\":{errno},\"syscall\":\"{}\",\"detail\":\"{}\"}}",
            escape(syscall),
            escape(detail)
        ),
    )
}

/// A caller mistake found on the native side (the JS layer validates first; this is the net).
pub fn arg_error(code: &str, message: &str) -> Error {
    Error::new(
        Status::InvalidArg,
        format!(
            "{TAG}{{\"kind\":\"arg\",\"code\":\"{}\",\"detail\":\"{}\"}}",
            escape(code),
            escape(message)
        ),
    )
}

/// The errno's name ("EPERM"), or "errno N" for the rare ones.
pub fn errno_name(e: i32) -> String {
    let name = match e {
        libc::EPERM => "EPERM",
        libc::EACCES => "EACCES",
        libc::ENOENT => "ENOENT",
        libc::EINVAL => "EINVAL",
        libc::EAFNOSUPPORT => "EAFNOSUPPORT",
        libc::EPROTONOSUPPORT => "EPROTONOSUPPORT",
        libc::ENOBUFS => "ENOBUFS",
        libc::ENOMEM => "ENOMEM",
        libc::EMFILE => "EMFILE",
        libc::ENFILE => "ENFILE",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        _ => return format!("errno {e}"),
    };
    name.to_string()
}

/// The errno of the last failed libc call.
pub fn last_errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_json_after_the_tag() {
        let e = sys_error("ioctl", 9, "fd \"3\"\n");
        let reason = e.reason.clone();
        assert!(reason.starts_with(TAG));
        assert_eq!(
            &reason[TAG.len()..],
            "{\"kind\":\"sys\",\"errno\":9,\"syscall\":\"ioctl\",\"detail\":\"fd \\\"3\\\"\\u000a\"}"
        );
    }
}
