//! Standard output that a closed pipe cannot abort, for `host-unix`, `host-tcp` and `lab`.
//!
//! `println!` panics when stdout's reader is gone (`lab check RUN | head -1`), which would
//! lose a host's verdict and exit 101. [`print`] (and the [`outln!`](crate::outln) and
//! [`out!`](crate::out) macros over it) return the error instead: `lab` passes it up and
//! exits 0 on a broken pipe, as ripgrep does; a host ignores it ([`print_or_drop`]), its
//! verdict going to stderr and its exit status unchanged.

use std::{
    fmt,
    io::{self, Write},
};

/// Set by [`discard`]: every print is dropped.
static DISCARD: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Drops everything [`print`] would write from now on, for a process that runs the
/// programs' code in-process many times (a fuzz test: these writes go past the test
/// harness's capture, which only `print!` reaches).
pub fn discard() {
    DISCARD.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Writes `args` to stdout and flushes; a closed pipe is an `Err` of kind
/// [`io::ErrorKind::BrokenPipe`], never a panic.
pub fn print(args: fmt::Arguments<'_>) -> io::Result<()> {
    if DISCARD.load(std::sync::atomic::Ordering::Relaxed) {
        return Ok(());
    }
    let mut out = io::stdout().lock();
    out.write_fmt(args)?;
    out.flush()
}

/// [`print`] for a host's summary: stdout gone (a closed pipe, a full disk) must not stop a
/// host from reporting its verdict on stderr, so the error is dropped.
pub fn print_or_drop(args: fmt::Arguments<'_>) {
    let _ = print(args);
}

/// `print!` that returns an [`io::Result`] instead of panicking on a closed pipe.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::out::print(::std::format_args!($($arg)*))
    };
}

/// `println!` that returns an [`io::Result`] instead of panicking on a closed pipe.
#[macro_export]
macro_rules! outln {
    () => {
        $crate::out::print(::std::format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::out::print(::std::format_args!("{}\n", ::std::format_args!($($arg)*)))
    };
}
