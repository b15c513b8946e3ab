//! The fourth host (tests/src/chan_host.rs: machines as threads over channels, through the
//! shared loop) runs the model as the other hosts do: its logs pass the checker.

use lamport_core::{RunParams, faults::Plan};
use lamport_host::args::Model;
use lamport_tests::{assert_clean, chan_host};

fn model(machines: u16, seed: u64, speedup_milli: u32, faults: Plan) -> Model {
    Model {
        params: RunParams {
            machines,
            secs: 2,
            speedup_milli,
            ..RunParams::new(seed, 0)
        },
        pinned: vec![None; usize::from(machines)],
        faults,
    }
}

#[test]
fn a_host_over_channels_is_the_shared_loop_and_its_logs_pass_the_checker() {
    let mut paused = Plan::default();
    paused.add_pause("1@0.5+0.5").unwrap();
    for m in [
        model(4, 7, 10_000, Plan::default()),
        model(3, 8, 5_000, paused),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let codes = chan_host::run(&m, dir.path()).expect("the run");
        assert_eq!(codes, vec![0; usize::from(m.params.machines)], "{m:?}");
        let report = assert_clean(dir.path());
        assert_eq!(report.machines.len(), usize::from(m.params.machines));
        let recvs: u64 = report.machines.iter().map(|s| s.recvs).sum();
        assert!(recvs > 0, "messages crossed the channels: {m:?}");
    }
}
