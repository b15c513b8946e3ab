//! What one machine of a run is made from, in one value: [`Spec`]. [`crate::Machine`],
//! [`crate::node::Node`] and the simulator's [`crate::sim::SimNode`] are each made from a
//! `Spec`, so a new per-machine option is a field here and nowhere else.

use crate::{MachineId, faults::NoFaults, node::Timing, params::RunParams};

/// One machine of a run: the run's parameters, which machine, its pinned rate, the waits of
/// the end of its run and its faults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec<F = NoFaults> {
    /// The run's parameters.
    pub params: RunParams,
    /// Which machine, `0..params.machines`.
    pub id: MachineId,
    /// Its clock rate in ticks per second instead of the one drawn from the seed (the draw
    /// happens either way, so pinning a rate does not change the machine's rolls).
    pub pinned: Option<u32>,
    /// The waits of the end of its run ([`Timing::HOST`] unless changed).
    pub timing: Timing,
    /// Its faults: [`NoFaults`] (the plain model) or, on a host, a `HostFaults` made from a `Plan` ([`Spec::with_plan`]).
    pub faults: F,
}

impl Spec {
    /// Machine `id` of a run: rate drawn, [`Timing::HOST`], no faults.
    pub fn new(params: RunParams, id: MachineId) -> Self {
        Self {
            params,
            id,
            pinned: None,
            timing: Timing::HOST,
            faults: NoFaults,
        }
    }
}

impl<F> Spec<F> {
    /// The same machine with its rate pinned to `rate` (or drawn, for `None`).
    pub fn pinned(self, rate: Option<u32>) -> Self {
        Self {
            pinned: rate,
            ..self
        }
    }

    /// The same machine with other end-of-run waits.
    pub fn timing(self, timing: Timing) -> Self {
        Self { timing, ..self }
    }

    /// The same machine with the faults `faults`.
    pub fn with_faults<G>(self, faults: G) -> Spec<G> {
        Spec {
            params: self.params,
            id: self.id,
            pinned: self.pinned,
            timing: self.timing,
            faults,
        }
    }

    /// The same machine with the faults of `plan` (its jitter drawn from the run's seed and
    /// this machine's id).
    #[cfg(feature = "alloc")]
    pub fn with_plan(self, plan: crate::faults::Plan) -> Spec<crate::faults::HostFaults> {
        let faults = crate::faults::HostFaults::new(plan, self.params.seed, self.id);
        self.with_faults(faults)
    }
}
