//! The header read deadline: a new connection has `timeout` to send its first request's
//! head, or it is answered 408 and closed, and counted.
//!
//! actix-http has such a deadline (`client_request_timeout`), but its 408 is written by
//! the dispatcher itself: the app never sees it, so it cannot be counted. Here the head is
//! read before actix-http gets the connection, and handed over with it (`Replayed`):
//! actix-http parses it as if it read it itself. Waiting on the socket costs nothing while
//! the client is slow (no polling), and the head is usually there at the first read.
//!
//! Only the first request of a connection has this deadline, as with actix-http's own:
//! later requests on a kept-alive connection are not bounded by either.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::web::{Buf, Bytes, BytesMut};
use prometheus::IntCounter;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::timeout;

use super::refusal_body;
use crate::error::ErrorCode;

/// How long the first request's head may take, and what counts those that took longer.
#[derive(Clone, Debug)]
pub struct HeaderDeadline {
    pub timeout: Duration,
    pub expired: IntCounter,
}

/// Past this many bytes without the end of the head, the connection goes to actix-http
/// as it is: its own deadline and head size limit (uncounted) take over from there.
const HEAD_BYTES: usize = 32 * 1024;

/// How long the refused client's last bytes are read and dropped after the 408 (closing
/// with unread bytes makes the kernel reset the socket, and the reset can overtake the
/// answer).
const LINGER: Duration = Duration::from_secs(1);

/// A connection whose first bytes were read already: they are read again first.
#[derive(Debug)]
pub struct Replayed {
    read: Bytes,
    tcp: TcpStream,
}

impl Replayed {
    /// A connection nothing was read from yet.
    pub fn new(tcp: TcpStream) -> Self {
        Replayed {
            read: Bytes::new(),
            tcp,
        }
    }

    /// The socket, and the bytes read ahead that were not read again yet.
    pub fn into_parts(self) -> (TcpStream, Bytes) {
        (self.tcp, self.read)
    }
}

impl AsyncRead for Replayed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.read.is_empty() {
            return Pin::new(&mut self.tcp).poll_read(cx, buf);
        }
        let n = self.read.len().min(buf.remaining());
        buf.put_slice(&self.read[..n]);
        self.read.advance(n);
        if self.read.is_empty() {
            // Lets the buffer go (an empty slice of it would keep it).
            self.read = Bytes::new();
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Replayed {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

/// The connection for actix-http once its first head arrived in time; None when it did
/// not (then it was answered 408 and closed) or the client went away.
pub async fn first_head(mut tcp: TcpStream, deadline: &HeaderDeadline) -> Option<Replayed> {
    match timeout(deadline.timeout, read_head(&mut tcp)).await {
        Ok(Ok(read)) => Some(Replayed {
            read: read.freeze(),
            tcp,
        }),
        Ok(Err(_)) => None,
        Err(_) => {
            deadline.expired.inc();
            refuse(tcp, deadline.timeout).await;
            None
        }
    }
}

/// Reads until the head's blank line, `HEAD_BYTES`, or the client's end of stream.
async fn read_head(tcp: &mut TcpStream) -> io::Result<BytesMut> {
    let mut read = BytesMut::new();
    let mut scanned = 0;
    loop {
        if let Some(end) = head_end(&read[scanned..]) {
            tracing::trace!(bytes = scanned + end, "request head arrived");
            return Ok(read);
        }
        // The blank line may straddle two reads: look again at the last three bytes.
        scanned = read.len().saturating_sub(3);
        if read.len() >= HEAD_BYTES {
            return Ok(read);
        }
        read.reserve(1024);
        if tcp.read_buf(&mut read).await? == 0 {
            return Ok(read);
        }
    }
}

/// Where the blank line that ends a head ends (httparse also accepts bare `\n` lines).
fn head_end(bytes: &[u8]) -> Option<usize> {
    let crlf = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| at + 4);
    let lf = bytes.windows(2).position(|w| w == b"\n\n").map(|at| at + 2);
    crlf.into_iter().chain(lf).min()
}

/// Answers 408 (in the house style of refusals: one coded error), then closes.
async fn refuse(mut tcp: TcpStream, waited: Duration) {
    let body = refusal_body(
        ErrorCode::RequestTimeout,
        format!(
            "the request headers did not arrive within {} ms",
            waited.as_millis()
        ),
    );
    let answer = format!(
        "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let answered = async {
        tcp.write_all(answer.as_bytes()).await?;
        tcp.shutdown().await
    };
    // A client that does not read may not hold the connection either.
    if !matches!(timeout(LINGER, answered).await, Ok(Ok(()))) {
        return;
    }
    let mut unread = [0u8; 512];
    let drain = async { while tcp.read(&mut unread).await.is_ok_and(|n| n > 0) {} };
    let _ = timeout(LINGER, drain).await;
}

#[cfg(test)]
mod tests {
    use super::head_end;

    #[test]
    fn a_head_ends_at_its_blank_line() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nbody"), Some(27));
        assert_eq!(head_end(b"GET / HTTP/1.1\nHost: x\n\n"), Some(24));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: x\r\n"), None);
        assert_eq!(head_end(b"GET / HT"), None);
        assert_eq!(head_end(b""), None);
    }
}
