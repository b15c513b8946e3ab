//! The `end` note's codec: how a [`Node`](crate::node::Node)(crate::node::Node) writes the peers it lost
//! (`peer 2 lost`, `peers 1-3+7 stalled`, `every peer but 0+5 lost`) and how a reader gets
//! them back ([`named_lost`]), kept apart from the state machine that decides them.

use crate::{MachineId, node::Lost};

/// The peers of one kind of loss, as short as the note allows: `peer 2 lost`, `peers
/// 1-3+7 lost`, `every peer lost`, `every peer but 0+5 lost` (every peer except those,
/// and this machine). Peer ids are written as ranges.
pub(crate) struct PeerList<F> {
    pub(crate) n: usize,
    pub(crate) me: usize,
    pub(crate) is: F,
    pub(crate) word: &'static str,
}

impl<F: Fn(usize) -> bool> core::fmt::Display for PeerList<F> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let others = |i: usize| i != self.me && !(self.is)(i);
        let count = (0..self.n).filter(|&i| (self.is)(i)).count();
        if count == 1 {
            let i = (0..self.n).find(|&i| (self.is)(i)).unwrap_or(0);
            return write!(f, "peer {i} {}", self.word);
        }
        if !(0..self.n).any(others) {
            return write!(f, "every peer {}", self.word);
        }
        let mut list = Count(0);
        let mut rest = Count(0);
        write_ranges(&mut list, self.n, &self.is)?;
        write_ranges(&mut rest, self.n, others)?;
        if rest.0 + "every peer but ".len() < list.0 + "peers ".len() {
            f.write_str("every peer but ")?;
            write_ranges(f, self.n, others)?;
        } else {
            f.write_str("peers ")?;
            write_ranges(f, self.n, &self.is)?;
        }
        write!(f, " {}", self.word)
    }
}

/// The part of an `end` note that names the peers `ids` (of a run of `machines`, as seen
/// by machine `me`) lost or stalled, exactly as a [`Node`](crate::node::Node) writes it: `peer 2 lost`,
/// `peers 1-3+7 stalled`, `every peer lost`, `every peer but 0+5 lost`. The checker
/// compares a note's parts with it.
pub fn lost_part<'a>(
    machines: u16,
    me: MachineId,
    ids: &'a [MachineId],
    how: Lost,
) -> impl core::fmt::Display + 'a {
    let me = usize::from(me);
    PeerList {
        n: usize::from(machines),
        me,
        is: move |i: usize| i != me && ids.iter().any(|&p| usize::from(p) == i),
        word: match how {
            Lost::Vanished => "lost",
            Lost::Stalled => "stalled",
        },
    }
}

/// Reads the peers an `end` note names lost or stalled (the forms [`Node`](crate::node::Node) writes: `peer
/// 2 lost`, `peers 1-3+7 stalled`, `every peer lost`, `every peer but 0+5 lost`) and calls
/// `f` with each id and how it was lost. `me` is the note's own machine, `machines` the
/// run's size. Parts it cannot read are skipped.
pub fn named_lost(note: &str, machines: u16, me: MachineId, mut f: impl FnMut(MachineId, Lost)) {
    let in_ranges = |list: &str, id: MachineId| {
        list.split('+').any(|r| {
            let (a, b) = r.split_once('-').unwrap_or((r, r));
            matches!((a.parse::<MachineId>(), b.parse::<MachineId>()), (Ok(a), Ok(b)) if a <= id && id <= b)
        })
    };
    for part in note.split("; ") {
        let (list, how) = if let Some(l) = part.strip_suffix(" lost") {
            (l, Lost::Vanished)
        } else if let Some(l) = part.strip_suffix(" stalled") {
            (l, Lost::Stalled)
        } else {
            continue;
        };
        let pick: &dyn Fn(MachineId) -> bool = if let Some(id) = list.strip_prefix("peer ") {
            &move |i| id.parse() == Ok(i)
        } else if let Some(l) = list.strip_prefix("peers ") {
            &move |i| in_ranges(l, i)
        } else if list == "every peer" {
            &|_| true
        } else if let Some(l) = list.strip_prefix("every peer but ") {
            &move |i| !in_ranges(l, i)
        } else {
            continue;
        };
        for i in (0..machines).filter(|&i| i != me && pick(i)) {
            f(i, how);
        }
    }
}

/// A speedup in thousandths, written as a decimal.
pub(crate) struct Milli(pub(crate) u32);

impl core::fmt::Display for Milli {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        crate::params::write_milli(f, self.0)
    }
}

/// Counts the bytes written.
pub(crate) struct Count(pub(crate) usize);

impl core::fmt::Write for Count {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.0 += s.len();
        Ok(())
    }
}

/// Writes the ids in `0..n` that `pick` holds for, as ranges joined by `+` (a note has no
/// commas): `1-3+7`.
fn write_ranges(
    w: &mut impl core::fmt::Write,
    n: usize,
    pick: impl Fn(usize) -> bool,
) -> core::fmt::Result {
    let mut i = 0;
    let mut first = true;
    while i < n {
        if !pick(i) {
            i += 1;
            continue;
        }
        let mut j = i;
        while j + 1 < n && pick(j + 1) {
            j += 1;
        }
        if !first {
            w.write_char('+')?;
        }
        first = false;
        if j == i {
            write!(w, "{i}")?;
        } else {
            write!(w, "{i}-{j}")?;
        }
        i = j + 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;

    #[test]
    fn lost_peers_are_written_short_and_read_back() {
        use proptest::prelude::*;
        proptest!(|(machines in 3u16..200, me_seed in any::<u16>(), lost in proptest::collection::vec(any::<u8>(), 200))| {
            let me = me_seed % machines;
            let kind = |i: usize| match lost[i] % 4 {
                0 if i != usize::from(me) => Some(Lost::Vanished),
                1 if i != usize::from(me) => Some(Lost::Stalled),
                _ => None,
            };
            let mut note = String::new();
            for (k, word) in [(Lost::Vanished, "lost"), (Lost::Stalled, "stalled")] {
                let is = |i: usize| kind(i) == Some(k);
                if (0..usize::from(machines)).any(is) {
                    if !note.is_empty() {
                        note.push_str("; ");
                    }
                    note.push_str(&std::format!("{}", PeerList { n: machines.into(), me: me.into(), is, word }));
                }
            }
            note.push_str("; time up");
            prop_assert!(!note.contains(','), "a note is one CSV field: {}", note);
            let mut back = std::vec![None; usize::from(machines)];
            named_lost(&note, machines, me, |i, how| back[usize::from(i)] = Some(how));
            for (i, got) in back.iter().enumerate() {
                prop_assert_eq!(*got, kind(i), "{} {}", i, note);
            }
        });
    }
}
