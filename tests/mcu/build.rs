//! Picks the board's memory layout by target. Each board's file has its own name, so no
//! `memory.x` in the package root can silently win over the one chosen here.
use std::{env, fs, path::PathBuf};

fn main() {
    let target = env::var("TARGET").unwrap_or_default();
    let board = if target.starts_with("thumbv7em") {
        "memory-mps2-an386.x"
    } else if target.starts_with("thumbv6m") {
        "memory-microbit.x"
    } else if target.starts_with("riscv32") {
        "memory-riscv-virt.x"
    } else {
        panic!("lamport-mcu: no board for target {target}");
    };
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    fs::copy(board, out.join("memory.x")).unwrap();
    println!("cargo:rustc-link-search={}", out.display());
    if target.starts_with("riscv32") {
        // riscv-rt's link.x does not include memory.x itself.
        println!("cargo:rustc-link-arg=-Tmemory.x");
    }
    println!("cargo:rustc-link-arg=-Tlink.x");
    println!("cargo:rerun-if-changed={board}");
    println!("cargo:rerun-if-changed=build.rs");
}
