//! Pure parsers of /proc text: bytes in, plain structs out. No I/O, no napi types.

pub mod proc_text;
pub mod syscall;
pub mod tcp_info;
#[rustfmt::skip]
pub mod syscall_names;
pub mod fdinfo;
pub mod maps;
pub mod sockdiag;
