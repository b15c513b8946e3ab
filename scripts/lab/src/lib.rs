//! lab: turns lamport-lab logs into the numbers and pictures the assignment asks about.
//!
//! It reads only the log format (v1), so it works on any run folder: either host, the
//! simulator, or a microcontroller's output.
//!
//! - [`stats`]: streaming per-machine statistics (jumps, lag, queue, lateness);
//! - [`report`]: `lab report`: Markdown tables and JSON for a run folder;
//! - [`plots`]: SVG plots of a run;
//! - [`sweep`]: the simulator over many seeds, per parameter set;
//! - [`hb`]: happens-before from the logs alone, vector clocks, ShiViz export;
//! - [`cmd`]: the command line (`lab check`, `lab sim`, ...), callable in-process.
#![deny(unsafe_code)]

pub mod cmd;
pub mod ctl;
pub mod hb;
pub mod plots;
pub mod report;
pub mod stats;
pub mod sweep;
pub mod view;
