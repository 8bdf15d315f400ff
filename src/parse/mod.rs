//! Pure parsers of /proc text: bytes in, plain structs out. No I/O, no napi types.

pub mod proc_text;
pub mod syscall;
#[rustfmt::skip]
pub mod syscall_names;
pub mod fdinfo;
pub mod sockdiag;
