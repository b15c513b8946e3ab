//! The Lamport logical clock.
//!
//! Two rules, and nothing else:
//! - a local event (internal or send) increments the clock by one; a message carries the
//!   clock value of its send event (increment, then stamp);
//! - receiving a message stamped `T` sets the clock to `max(C, T) + 1`.

/// A Lamport logical clock. Starts at 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct Lamport(pub u64);

impl Lamport {
    /// A local event (internal or send): `C = C + 1`. Returns the new value, which is the
    /// stamp a send event puts on its messages.
    pub fn tick(&mut self) -> u64 {
        // Saturates rather than wraps: a clock of 2^64 - 1 only comes from a forged message
        // (a replayed log), never from 2^64 events.
        self.0 = self.0.saturating_add(1);
        self.0
    }

    /// Receipt of a message stamped `remote`: `C = max(C, remote) + 1`. Returns the new value.
    pub fn observe(&mut self, remote: u64) -> u64 {
        self.0 = self.0.max(remote).saturating_add(1);
        self.0
    }

    /// The current value.
    pub fn get(self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_event_adds_one() {
        let mut c = Lamport(7);
        assert_eq!(c.tick(), 8);
        assert_eq!(c.get(), 8);
    }

    #[test]
    fn receive_takes_max_plus_one() {
        let mut c = Lamport(7);
        assert_eq!(c.observe(20), 21, "remote ahead: jump to remote + 1");
        assert_eq!(c.observe(3), 22, "remote behind: own clock + 1");
        assert_eq!(c.observe(22), 23, "equal: + 1");
    }
}
