//! A size limit on the raw bytes a client sends, enforced from frame headers.
//!
//! actix-http's websocket codec checks its `max_frame_size` only once a whole frame has
//! arrived, buffering it all first, and continuation frames are only bounded once each
//! has arrived: a client declaring a gigabyte frame would make it buffer a gigabyte. This
//! stream sits between the request payload and actix-ws' decoder, reads each frame header
//! as it passes, and fails the payload (with `PayloadError::Overflow`) as soon as a frame
//! or a fragmented message declares more than the limit, before its payload is buffered.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use actix_web::error::PayloadError;
use actix_web::web::Bytes;
use futures_util::{Stream, StreamExt};

/// Opcodes of the data frames (control frames are 0x8 and above).
const CONTINUATION: u8 = 0x0;
const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;

/// The longest frame header: 2 bytes, an 8-byte length, a 4-byte mask.
const MAX_HEADER: usize = 14;

pub(super) struct FrameLimit<S> {
    inner: S,
    max: u64,
    /// The current frame header, as far as it has arrived.
    header: [u8; MAX_HEADER],
    header_len: usize,
    /// Payload bytes of the current frame still to pass.
    payload_left: u64,
    /// Bytes of the current (possibly fragmented) data message so far.
    message: u64,
    tripped: bool,
}

/// A frame or message declared more than the limit.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct TooLarge;

impl<S> FrameLimit<S> {
    pub(super) fn new(inner: S, max: usize) -> Self {
        FrameLimit {
            inner,
            max: u64::try_from(max).unwrap_or(u64::MAX),
            header: [0; MAX_HEADER],
            header_len: 0,
            payload_left: 0,
            message: 0,
            tripped: false,
        }
    }

    /// Follows the frames through `bytes`, the next bytes of the stream.
    fn scan(&mut self, mut bytes: &[u8]) -> Result<(), TooLarge> {
        while let Some((&first, rest)) = bytes.split_first() {
            if self.payload_left > 0 {
                let skip = usize::try_from(self.payload_left)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                self.payload_left -= skip as u64;
                bytes = &bytes[skip..];
                continue;
            }
            self.header[self.header_len] = first;
            self.header_len += 1;
            bytes = rest;
            if let Some((opcode, length)) = parse_header(&self.header[..self.header_len]) {
                self.header_len = 0;
                self.frame(opcode, length)?;
            }
        }
        Ok(())
    }

    /// Accounts for a frame whose header is complete.
    fn frame(&mut self, opcode: u8, length: u64) -> Result<(), TooLarge> {
        match opcode {
            TEXT | BINARY => self.message = length,
            CONTINUATION => self.message = self.message.saturating_add(length),
            _ => {}
        }
        if length > self.max || self.message > self.max {
            return Err(TooLarge);
        }
        self.payload_left = length;
        Ok(())
    }
}

/// The opcode and payload length of a complete frame header, None while it is incomplete.
fn parse_header(header: &[u8]) -> Option<(u8, u64)> {
    let [first, second, ..] = *header else {
        return None;
    };
    let (extended, short) = match second & 0x7f {
        126 => (2, None),
        127 => (8, None),
        length => (0, Some(u64::from(length))),
    };
    let mask = if second & 0x80 != 0 { 4 } else { 0 };
    if header.len() < 2 + extended + mask {
        return None;
    }
    let length = short.unwrap_or_else(|| {
        header[2..2 + extended]
            .iter()
            .fold(0u64, |length, byte| (length << 8) | u64::from(*byte))
    });
    Some((first & 0x0f, length))
}

impl<S> Stream for FrameLimit<S>
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.tripped {
            return Poll::Ready(None);
        }
        let item = ready!(this.inner.poll_next_unpin(cx));
        if let Some(Ok(bytes)) = &item {
            if this.scan(bytes).is_err() {
                this.tripped = true;
                return Poll::Ready(Some(Err(PayloadError::Overflow)));
            }
        }
        Poll::Ready(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked client frame header for a payload of `length` bytes.
    fn header(fin: bool, opcode: u8, length: usize) -> Vec<u8> {
        let mut bytes = vec![if fin { 0x80 } else { 0 } | opcode];
        match length {
            0..=125 => bytes.push(0x80 | length as u8),
            126..=0xffff => {
                bytes.push(0x80 | 126);
                bytes.extend((length as u16).to_be_bytes());
            }
            _ => {
                bytes.push(0x80 | 127);
                bytes.extend((length as u64).to_be_bytes());
            }
        }
        bytes.extend([1, 2, 3, 4]);
        bytes
    }

    fn frame(fin: bool, opcode: u8, length: usize) -> Vec<u8> {
        let mut bytes = header(fin, opcode, length);
        bytes.extend(std::iter::repeat_n(b'x', length));
        bytes
    }

    /// Feeds `bytes` in chunks of `chunk` bytes.
    fn feed(limit: &mut FrameLimit<()>, bytes: &[u8], chunk: usize) -> Result<(), TooLarge> {
        bytes.chunks(chunk).try_for_each(|part| limit.scan(part))
    }

    #[test]
    fn passes_frames_within_the_limit_however_they_are_split() {
        let mut stream = Vec::new();
        stream.extend(frame(true, TEXT, 100));
        stream.extend(frame(true, 0x9, 4)); // ping
        stream.extend(frame(true, BINARY, 1000));
        stream.extend(frame(false, TEXT, 400));
        stream.extend(frame(false, CONTINUATION, 400));
        stream.extend(frame(true, CONTINUATION, 200));
        stream.extend(frame(true, TEXT, 1000));
        for chunk in [1, 3, 7, 64, 5000] {
            let mut limit = FrameLimit::new((), 1000);
            assert_eq!(feed(&mut limit, &stream, chunk), Ok(()), "chunk {chunk}");
        }
    }

    #[test]
    fn refuses_a_large_frame_from_its_header_alone() {
        let mut limit = FrameLimit::new((), 1000);
        assert_eq!(limit.scan(&header(true, TEXT, 1001)), Err(TooLarge));
        let mut limit = FrameLimit::new((), 1000);
        assert_eq!(limit.scan(&header(true, BINARY, 1 << 40)), Err(TooLarge));
    }

    #[test]
    fn refuses_a_large_fragmented_message() {
        let mut stream = Vec::new();
        stream.extend(frame(false, TEXT, 600));
        stream.extend(frame(true, 0xA, 2)); // a pong between fragments
        stream.extend(header(false, CONTINUATION, 600));
        let mut limit = FrameLimit::new((), 1000);
        assert_eq!(feed(&mut limit, &stream, 100), Err(TooLarge));
    }
}
