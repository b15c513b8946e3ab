//! The network queue: FIFO, fixed capacity, never drops.

use crate::wire::Msg;
use heapless::Deque;

/// A machine's network queue: holds at most `CAP` messages (compile time) and at most
/// `limit` (run time, `1..=CAP`). A full queue hands the message back to the caller, who
/// decides what to do; nothing is ever dropped here.
#[derive(Debug, Clone)]
pub struct Inbox<const CAP: usize> {
    items: Deque<Msg, CAP>,
    limit: usize,
    high_water: usize,
}

impl<const CAP: usize> Inbox<CAP> {
    /// An empty queue holding at most `limit` messages (clamped to `1..=CAP`).
    pub const fn new(limit: usize) -> Self {
        let limit = if limit == 0 {
            1
        } else if limit > CAP {
            CAP
        } else {
            limit
        };
        Self {
            items: Deque::new(),
            limit,
            high_water: 0,
        }
    }

    /// Appends a message at the back, or hands it back when the queue is full.
    pub fn push(&mut self, msg: Msg) -> Result<(), Msg> {
        if self.items.len() >= self.limit {
            return Err(msg);
        }
        self.items.push_back(msg)?;
        self.high_water = self.high_water.max(self.items.len());
        Ok(())
    }

    /// Takes the oldest message.
    pub fn pop(&mut self) -> Option<Msg> {
        self.items.pop_front()
    }

    /// Messages waiting.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when no message waits.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The run-time limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// The longest the queue has been.
    pub fn high_water(&self) -> usize {
        self.high_water
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(clock: u64) -> Msg {
        Msg { sender: 1, clock }
    }

    #[test]
    fn fifo_order() {
        let mut q = Inbox::<4>::new(4);
        for c in 1..=3 {
            q.push(msg(c)).unwrap();
        }
        assert_eq!(q.pop(), Some(msg(1)));
        assert_eq!(q.pop(), Some(msg(2)));
        q.push(msg(4)).unwrap();
        assert_eq!(q.pop(), Some(msg(3)));
        assert_eq!(q.pop(), Some(msg(4)));
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn full_queue_hands_the_message_back() {
        let mut q = Inbox::<4>::new(2);
        q.push(msg(1)).unwrap();
        q.push(msg(2)).unwrap();
        assert_eq!(q.push(msg(3)), Err(msg(3)), "run-time limit");
        assert_eq!(q.len(), 2);
        let mut full = Inbox::<2>::new(99);
        assert_eq!(full.limit(), 2, "limit clamps to capacity");
        full.push(msg(1)).unwrap();
        full.push(msg(2)).unwrap();
        assert_eq!(full.push(msg(3)), Err(msg(3)), "compile-time capacity");
        assert_eq!(full.high_water(), 2);
    }
}
