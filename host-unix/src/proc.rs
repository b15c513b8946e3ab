//! Processes: fork, the only `unsafe` of host-unix.
#![allow(unsafe_code)]

use nix::unistd::{ForkResult, Pid, fork};

/// Runs `child` in a new process, which exits with the status it returns; returns the
/// child's pid in the parent.
///
/// Must be called before the process has any thread besides the main one.
pub(crate) fn spawn(child: impl FnOnce() -> u8) -> nix::Result<Pid> {
    // SAFETY: host-unix forks from its single main thread, before the live display or any
    // other thread exists, so the child cannot inherit a lock held by another thread. The
    // child only runs `child` (plain Rust on its own data) and then exits without returning
    // into the parent's code.
    match unsafe { fork() }? {
        ForkResult::Parent { child } => Ok(child),
        ForkResult::Child => {
            let code = child();
            std::process::exit(i32::from(code));
        }
    }
}
