//! The unsafe room of the sentinel (src/sentinel.rs): fanotify on individual files (no
//! privilege needed since Linux 5.13 with FAN_REPORT_FID), file handles to recognise them in
//! events, and the address calls for this process's own sockets.

use std::ffi::CString;
use std::os::raw::c_int;

use crate::error::last_errno;
use crate::sys::SysResult;

pub const FAN_OPEN: u64 = 0x20;
const FAN_CLOEXEC: u32 = 0x1;
const FAN_NONBLOCK: u32 = 0x2;
const FAN_REPORT_FID: u32 = 0x200;
const FAN_MARK_ADD: u32 = 0x1;

/// fanotify_init(FAN_CLASS_NOTIF | FAN_REPORT_FID | FAN_CLOEXEC | FAN_NONBLOCK).
pub fn fanotify_init() -> SysResult<c_int> {
    // SAFETY: fanotify_init takes two integer flag words.
    let fd = unsafe {
        libc::fanotify_init(
            FAN_CLOEXEC | FAN_NONBLOCK | FAN_REPORT_FID,
            (libc::O_RDONLY | libc::O_LARGEFILE) as u32,
        )
    };
    if fd < 0 {
        Err(last_errno())
    } else {
        Ok(fd)
    }
}

/// An inode mark for FAN_OPEN on one path.
pub fn fanotify_mark_open(fd: c_int, path: &str) -> SysResult<()> {
    let c = CString::new(path).map_err(|_| libc::EINVAL)?;
    // SAFETY: fd is a fanotify group; c is NUL-terminated for the duration of the call.
    let r = unsafe { libc::fanotify_mark(fd, FAN_MARK_ADD, FAN_OPEN, libc::AT_FDCWD, c.as_ptr()) };
    if r < 0 {
        Err(last_errno())
    } else {
        Ok(())
    }
}

/// The (handle_type, f_handle bytes) the kernel will report for this path.
pub fn file_handle(path: &str) -> SysResult<(i32, Vec<u8>)> {
    let c = CString::new(path).map_err(|_| libc::EINVAL)?;
    // struct file_handle { u32 handle_bytes; i32 handle_type; u8 f_handle[] }, MAX_HANDLE_SZ 128
    let mut buf = [0u32; 2 + 32];
    buf[0] = 128;
    let mut mount_id: c_int = 0;
    // SAFETY: buf is a file_handle with room for 128 handle bytes; c is NUL-terminated.
    let r = unsafe {
        libc::syscall(
            libc::SYS_name_to_handle_at,
            libc::AT_FDCWD,
            c.as_ptr(),
            buf.as_mut_ptr(),
            &mut mount_id as *mut c_int,
            0,
        )
    };
    if r < 0 {
        return Err(last_errno());
    }
    let n = (buf[0] as usize).min(128);
    let bytes: Vec<u8> = buf[2..]
        .iter()
        .flat_map(|w| w.to_ne_bytes())
        .take(n)
        .collect();
    Ok((buf[1] as i32, bytes))
}

/// A non-blocking read of queued events; Ok(0) when there are none.
pub fn read_nonblock(fd: c_int, buf: &mut [u8]) -> SysResult<usize> {
    // SAFETY: buf is writable for its length.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        let e = last_errno();
        if e == libc::EAGAIN || e == libc::EINTR {
            Ok(0)
        } else {
            Err(e)
        }
    } else {
        Ok(n as usize)
    }
}

pub fn close(fd: c_int) {
    // SAFETY: the caller owns fd and closes it once.
    unsafe { libc::close(fd) };
}

/// getsockname / getpeername into a sockaddr_storage-sized buffer; the bytes written.
pub fn sock_addr(fd: c_int, peer: bool) -> SysResult<Vec<u8>> {
    let mut buf = [0u8; 128];
    let mut len = buf.len() as libc::socklen_t;
    let p = buf.as_mut_ptr().cast::<libc::sockaddr>();
    let r = if peer {
        // SAFETY: buf is 128 writable bytes, len says so; the kernel writes at most len bytes.
        unsafe { libc::getpeername(fd, p, &mut len) }
    } else {
        // SAFETY: as above.
        unsafe { libc::getsockname(fd, p, &mut len) }
    };
    if r < 0 {
        return Err(last_errno());
    }
    Ok(buf[..(len as usize).min(128)].to_vec())
}
