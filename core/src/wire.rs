//! The wire format: postcard-encoded frames, COBS-framed for byte streams.
//!
//! A frame on the wire is `COBS(postcard(Frame))` followed by one `0x00` delimiter. No
//! frame is longer than [`MAX_FRAME`] bytes, delimiter included. [`Deframer`] turns a byte
//! stream back into frames and reports every kind of bad input as a typed [`Error`]:
//! truncated, oversized, unknown version, garbage. It never panics.

use crate::{Error, MachineId};
use serde::{Deserialize, Serialize};

/// The protocol version this build speaks, carried in `Hello`.
pub const VERSION: u16 = 1;

/// Largest frame on the wire in bytes, COBS overhead and delimiter included.
pub const MAX_FRAME: usize = 48;

/// The first frame on every connection: who is speaking, and in which run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// Protocol version; must be [`VERSION`]. First, so that later versions can change the rest.
    pub version: u16,
    /// Digest of the parameters every machine of the run must share.
    pub run_id: u64,
    /// Number of machines in the run.
    pub machines: u16,
    /// The sender's id.
    pub sender: MachineId,
    /// The sender's system time when it sent this frame (used to agree on a start instant).
    pub time_unix_ns: u64,
}

/// A model message: the sender's Lamport clock at its send event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Msg {
    /// The sender's id.
    pub sender: MachineId,
    /// The clock value of the send event.
    pub clock: u64,
}

/// The last frame on a connection: the sender has stopped, and sent `sent` `Msg` frames
/// to this receiver in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bye {
    /// The sender's id.
    pub sender: MachineId,
    /// How many `Msg` frames the sender sent to this receiver.
    pub sent: u64,
}

/// Every kind of frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Frame {
    /// See [`Hello`].
    Hello(Hello),
    /// See [`Msg`].
    Msg(Msg),
    /// See [`Bye`].
    Bye(Bye),
}

/// Encodes `frame` into `buf` as COBS bytes plus the `0x00` delimiter; returns the used part.
pub fn encode<'b>(frame: &Frame, buf: &'b mut [u8]) -> Result<&'b mut [u8], Error> {
    postcard::to_slice_cobs(frame, buf).map_err(|_| Error::BufferFull)
}

/// Decodes one frame from its COBS bytes (without the delimiter), in place.
pub fn decode(cobs: &mut [u8]) -> Result<Frame, Error> {
    if cobs.len() + 1 > MAX_FRAME {
        return Err(Error::Oversized);
    }
    if cobs.is_empty() {
        return Err(Error::Truncated);
    }
    let n = cobs_decode(cobs)?;
    let (frame, rest) = postcard::take_from_bytes::<Frame>(&cobs[..n]).map_err(|e| match e {
        postcard::Error::DeserializeUnexpectedEnd => Error::Truncated,
        _ => Error::Garbage,
    })?;
    if !rest.is_empty() {
        return Err(Error::Garbage);
    }
    if let Frame::Hello(h) = frame
        && h.version != VERSION
    {
        return Err(Error::UnknownVersion(h.version));
    }
    Ok(frame)
}

/// COBS decoding in place (the `cobs` crate postcard itself uses); returns the decoded
/// length. A `0x00` cannot be inside a frame; a run that goes past the end is a truncated
/// frame.
fn cobs_decode(buf: &mut [u8]) -> Result<usize, Error> {
    if buf.contains(&0) {
        return Err(Error::Garbage);
    }
    cobs::decode_in_place(buf).map_err(|e| match e {
        cobs::DecodeError::TargetBufTooSmall => Error::Oversized,
        _ => Error::Truncated,
    })
}

/// Reassembles frames from a byte stream. Feed bytes with [`Deframer::push`]; each `0x00`
/// ends a frame. A frame longer than [`MAX_FRAME`] is reported once as [`Error::Oversized`]
/// and discarded up to its delimiter. Memory is fixed: [`MAX_FRAME`] bytes.
#[derive(Debug, Clone)]
pub struct Deframer {
    buf: [u8; MAX_FRAME],
    len: usize,
    overflow: bool,
}

impl Default for Deframer {
    fn default() -> Self {
        Self::new()
    }
}

impl Deframer {
    /// An empty deframer.
    pub const fn new() -> Self {
        Self {
            buf: [0; MAX_FRAME],
            len: 0,
            overflow: false,
        }
    }

    /// Takes one byte; returns a frame (or the error for a bad frame) when `byte` ends one.
    /// A frame that grows past [`MAX_FRAME`] is reported as [`Error::Oversized`] at once
    /// (a stream that never sends a delimiter cannot hold the reader), and the rest of it,
    /// up to the next delimiter, is discarded.
    pub fn push(&mut self, byte: u8) -> Option<Result<Frame, Error>> {
        if byte != 0 {
            if self.overflow {
                return None;
            }
            if self.len + 1 < MAX_FRAME {
                self.buf[self.len] = byte;
                self.len += 1;
                return None;
            }
            self.overflow = true;
            self.len = 0;
            return Some(Err(Error::Oversized));
        }
        let len = core::mem::replace(&mut self.len, 0);
        if core::mem::replace(&mut self.overflow, false) {
            return None;
        }
        Some(decode(&mut self.buf[..len]))
    }

    /// True when bytes of an unfinished frame are held: a stream that ends now was truncated.
    pub fn is_mid_frame(&self) -> bool {
        self.len > 0 || self.overflow
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    fn bytes(frame: &Frame) -> Vec<u8> {
        let mut buf = [0u8; MAX_FRAME];
        encode(frame, &mut buf).unwrap().to_vec()
    }

    fn roundtrip(frame: Frame, golden: &[u8]) {
        let wire = bytes(&frame);
        assert_eq!(wire, golden, "golden bytes of {frame:?}");
        let mut d = Deframer::new();
        let mut out = Vec::new();
        for b in wire {
            if let Some(r) = d.push(b) {
                out.push(r);
            }
        }
        assert_eq!(out, [Ok(frame)]);
    }

    #[test]
    fn golden_msg() {
        roundtrip(
            Frame::Msg(Msg {
                sender: 1,
                clock: 5,
            }),
            &[0x04, 0x01, 0x01, 0x05, 0x00],
        );
        // clock 300 is a two-byte varint; sender 0 becomes a COBS zero.
        roundtrip(
            Frame::Msg(Msg {
                sender: 0,
                clock: 300,
            }),
            &[0x02, 0x01, 0x03, 0xac, 0x02, 0x00],
        );
    }

    #[test]
    fn golden_bye() {
        roundtrip(
            Frame::Bye(Bye {
                sender: 2,
                sent: 17,
            }),
            &[0x04, 0x02, 0x02, 0x11, 0x00],
        );
    }

    #[test]
    fn golden_hello() {
        let h = Hello {
            version: 1,
            run_id: 0xff,
            machines: 3,
            sender: 2,
            time_unix_ns: 1,
        };
        roundtrip(
            Frame::Hello(h),
            &[0x01, 0x07, 0x01, 0xff, 0x01, 0x03, 0x02, 0x01, 0x00],
        );
    }

    #[test]
    fn largest_frame_fits() {
        let h = Hello {
            version: u16::MAX,
            run_id: u64::MAX,
            machines: u16::MAX,
            sender: u16::MAX,
            time_unix_ns: u64::MAX,
        };
        let mut buf = [0u8; MAX_FRAME];
        let n = encode(&Frame::Hello(h), &mut buf).unwrap().len();
        assert!(n <= MAX_FRAME, "{n}");
    }

    #[test]
    fn typed_errors() {
        let mut d = Deframer::new();
        // Unknown version.
        let h = Hello {
            version: 9,
            run_id: 1,
            machines: 3,
            sender: 0,
            time_unix_ns: 0,
        };
        let mut buf = [0u8; MAX_FRAME];
        let wire = encode(&Frame::Hello(h), &mut buf).unwrap().to_vec();
        let got: Vec<_> = wire.iter().filter_map(|&b| d.push(b)).collect();
        assert_eq!(got, [Err(Error::UnknownVersion(9))]);
        // Truncated: a Msg without its clock.
        assert_eq!(decode(&mut [0x03, 0x01, 0x01]), Err(Error::Truncated));
        // COBS code pointing past the end.
        assert_eq!(decode(&mut [0x09, 0x01]), Err(Error::Truncated));
        // Unknown frame kind.
        assert_eq!(decode(&mut [0x02, 0x07]), Err(Error::Garbage));
        // Trailing bytes after a whole frame.
        assert_eq!(
            decode(&mut [0x05, 0x01, 0x01, 0x05, 0x09]),
            Err(Error::Garbage)
        );
        // Oversized: 100 non-zero bytes then a delimiter, then a good frame still decodes.
        let mut d = Deframer::new();
        let mut got = Vec::new();
        for b in core::iter::repeat_n(7u8, 100)
            .chain([0])
            .chain(bytes(&Frame::Msg(Msg {
                sender: 1,
                clock: 5,
            })))
        {
            if let Some(r) = d.push(b) {
                got.push(r);
            }
        }
        assert_eq!(
            got,
            [
                Err(Error::Oversized),
                Ok(Frame::Msg(Msg {
                    sender: 1,
                    clock: 5
                }))
            ]
        );
        // Empty frame.
        assert_eq!(Deframer::new().push(0), Some(Err(Error::Truncated)));
    }

    /// The hand-written COBS decoder this crate had before it used the `cobs` crate: the
    /// reference the new one must agree with.
    fn reference_cobs_decode(buf: &mut [u8]) -> Result<usize, Error> {
        let (mut r, mut w) = (0, 0);
        while r < buf.len() {
            let code = buf[r] as usize;
            if code == 0 {
                return Err(Error::Garbage);
            }
            r += 1;
            let end = r + code - 1;
            if end > buf.len() {
                return Err(Error::Truncated);
            }
            if buf[r..end].contains(&0) {
                return Err(Error::Garbage);
            }
            buf.copy_within(r..end, w);
            w += code - 1;
            r = end;
            if code != 0xFF && r < buf.len() {
                buf[w] = 0;
                w += 1;
            }
        }
        Ok(w)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// The `cobs` crate decodes exactly as the hand-written decoder did: same bytes,
        /// same errors, over random inputs and over encoded frames (an empty input, which
        /// the deframer never passes on, was `Ok(0)` and is now `Truncated`).
        #[test]
        fn cobs_crate_agrees_with_the_old_decoder(
            data in proptest::collection::vec(any::<u8>(), 0..80),
            frame in (any::<u16>(), any::<u64>()).prop_map(|(sender, clock)| Frame::Msg(Msg { sender, clock })),
        ) {
            let mut encoded = bytes(&frame);
            encoded.pop();
            for input in [data, encoded] {
                let (mut a, mut b) = (input.clone(), input.clone());
                let (ra, rb) = (cobs_decode(&mut a), reference_cobs_decode(&mut b));
                match (ra, rb) {
                    (Ok(n), Ok(m)) => {
                        prop_assert_eq!(n, m);
                        prop_assert_eq!(&a[..n], &b[..m]);
                    }
                    // A 0x00 is never inside a frame (it ends one): both refuse it, the
                    // new one always as garbage.
                    (x, y) if input.contains(&0) => {
                        prop_assert_eq!(x, Err(Error::Garbage));
                        prop_assert!(y.is_err());
                    }
                    (x, Ok(0)) if input.is_empty() => prop_assert_eq!(x, Err(Error::Truncated)),
                    (x, y) => prop_assert_eq!(x, y, "{:?}", input),
                }
            }
        }

        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..400)) {
            let mut d = Deframer::new();
            for b in data {
                if let Some(Ok(f)) = d.push(b) {
                    // Whatever decodes must re-encode within the size limit.
                    let mut buf = [0u8; MAX_FRAME];
                    prop_assert!(encode(&f, &mut buf).is_ok());
                }
            }
        }

        #[test]
        fn mutated_frames_never_panic(sender in 0u16..200, clock in any::<u64>(), at in 0usize..40, val in any::<u8>(), cut in 0usize..40) {
            let mut wire = bytes(&Frame::Msg(Msg { sender, clock }));
            let i = at % wire.len();
            wire[i] = val;
            wire.truncate(wire.len().min(cut + 1));
            let mut d = Deframer::new();
            for b in wire {
                let _ = d.push(b);
            }
            let _ = d.is_mid_frame();
        }

        #[test]
        fn every_msg_round_trips(sender in any::<u16>(), clock in any::<u64>(), sent in any::<u64>()) {
            for f in [Frame::Msg(Msg { sender, clock }), Frame::Bye(Bye { sender, sent })] {
                let mut d = Deframer::new();
                let out: Vec<_> = bytes(&f).into_iter().filter_map(|b| d.push(b)).collect();
                prop_assert_eq!(out, std::vec![Ok(f)]);
            }
        }
    }
}
