//! Host code shared by `host-unix`, `host-tcp` and `lab`: written once, used by all.
//!
//! - [`args`]: the model flags (`--machines`, `--secs`, `--seed`, ...), validated into
//!   [`lamport_core::RunParams`];
//! - [`folder`]: the run folder, its `run.json`, and the `.writing-<pid>` mark of a folder
//!   being written;
//! - [`logfile`]: the log writer (one `write` per event, so a killed machine leaves whole lines);
//! - [`time`]: the monotonic clock mapped to system time, and tick deadlines;
//! - [`drive`]: one machine as every host runs it: the core's node with its log file, its
//!   [`drive::Transport`] and the run's time base, and [`drive::run`], the loop that drives
//!   it through a host's [`drive::Events`]; its exit status;
//! - [`link`]: one connection to one peer, with the one bounded send buffer; [`link::Links`]
//!   is the transport of byte streams;
//! - [`pace`]: how a host waits for a deadline (`--pacing sleep|hybrid`);
//! - [`signals`]: SIGINT/SIGTERM/SIGHUP through a signalfd, set up once for every host;
//! - [`check`]: the log checker: every consequence of the model the logs can show
//!   (docs/model.md, "What `lab check` judges");
//! - [`control`]: faults at the teacher's hand while the run runs: the commands, the
//!   board that routes them, the control socket (`lab ctl`, the live page, the keys);
//! - [`keys`]: the display's keys (pause, cut, heal, delay, kill) through the control;
//! - [`display`]: the live display and the end-of-run summary table;
//! - [`follow`]: a growing file's whole lines since the last look (the live display's
//!   and the live view's);
//! - [`page`]: the view page (`view.html`) and its data, for `lab view` and the live view;
//! - [`live`]: the live view: the page served over HTTP, each new row streamed to it;
//! - [`live_faults`]: faults set while the run ran, from the logs' `fault` rows: each
//!   machine's effective plan and deadlines, and the run's list of them;
//! - [`out`]: standard output that a closed pipe cannot abort (`outln!`, `out!`);
//! - [`outcome`]: how a whole run ended: the log check, the summary, the exit status, the
//!   CPU it took;
//! - [`waiter`]: one epoll set per machine (its connections and a timerfd at its deadline);
//! - [`sim`]: the simulator as `lab sim` and `lab sweep` run it (run folder, `run.json`);
//! - [`hist`]: the lateness histogram; [`error`]: the host crates' error type.
#![deny(unsafe_code)]

pub mod args;
pub mod check;
pub mod collect;
pub mod control;
pub mod display;
pub mod drive;
pub mod error;
pub mod folder;
pub mod follow;
pub mod hist;
pub mod keys;
pub mod link;
pub mod live;
pub mod live_faults;
pub mod logfile;
pub mod meet;
pub mod out;
pub mod outcome;
pub mod pace;
pub mod page;
pub mod signals;
pub mod sim;
pub mod time;
pub mod waiter;

/// The program version written into `run.json`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Exit status of a clean run.
pub const EXIT_OK: u8 = 0;
/// Exit status of a run that ended in a failure (a machine lost, a full queue, a count mismatch).
pub const EXIT_FAILED: u8 = 1;
/// Exit status of bad usage: nothing was started.
pub const EXIT_USAGE: u8 = 2;
/// Exit status of a machine that stopped because a peer stopped or was lost.
pub const EXIT_PEER: u8 = 3;
/// Exit status of a machine killed on command while the run ran (`lab ctl RUN kill M`).
pub const EXIT_KILLED: u8 = 4;
/// Exit status after SIGHUP (the terminal closed).
pub const EXIT_SIGHUP: u8 = 129;
/// Exit status after SIGINT.
pub const EXIT_SIGINT: u8 = 130;
/// Exit status after SIGTERM.
pub const EXIT_SIGTERM: u8 = 143;
pub use serde_json;
