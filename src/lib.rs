//! kernelscope: the kernel's view of a Node.js process, from inside it.
#![deny(clippy::all)]

pub mod audit;
pub mod error;
pub mod fd_summary;
pub mod fds;
pub mod histogram;
pub mod layout;
pub mod loop_monitor;
pub mod parse;
pub mod process;
pub mod process_info;
#[cfg(test)]
mod props;
pub mod sampler;
pub mod sentinel;
pub mod sockdiag;
pub mod socket;
pub mod spawn;
pub mod sys;
pub mod threads;
