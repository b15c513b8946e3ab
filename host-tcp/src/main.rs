//! host-tcp: the model over TCP (not built yet: issue 4).
fn main() -> std::process::ExitCode {
    eprintln!("host-tcp: not built yet (issue 4); use host-unix");
    std::process::ExitCode::from(2)
}
