//! A byte buffer with a size cap that keeps the head and the tail of what it was fed.
//!
//! An agent can print gigabytes; the record keeps how it started (what it understood)
//! and how it ended (the error or the answer), with a marker where bytes were cut.

use std::collections::VecDeque;

/// Output kept up to a cap: the first half of the cap, then the latest bytes.
#[derive(Debug)]
pub(crate) struct CappedBuffer {
    head_cap: usize,
    tail_cap: usize,
    head: Vec<u8>,
    tail: VecDeque<u8>,
    cut: u64,
}

impl CappedBuffer {
    /// A buffer that keeps at most `cap` bytes of output.
    pub(crate) fn new(cap: usize) -> Self {
        let head_cap = cap / 2;
        Self {
            head_cap,
            tail_cap: cap - head_cap,
            head: Vec::new(),
            tail: VecDeque::new(),
            cut: 0,
        }
    }

    /// Appends output, dropping the middle once the cap is reached.
    pub(crate) fn push(&mut self, mut bytes: &[u8]) {
        let room = self.head_cap - self.head.len();
        if room > 0 {
            let take = room.min(bytes.len());
            self.head.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
        }
        if bytes.len() >= self.tail_cap {
            self.cut += (self.tail.len() + bytes.len() - self.tail_cap) as u64;
            self.tail.clear();
            self.tail.extend(&bytes[bytes.len() - self.tail_cap..]);
            return;
        }
        self.tail.extend(bytes);
        let excess = self.tail.len().saturating_sub(self.tail_cap);
        if excess > 0 {
            self.tail.drain(..excess);
            self.cut += excess as u64;
        }
    }

    /// The kept output as text (invalid UTF-8 replaced), with one marker line where
    /// bytes were cut.
    pub(crate) fn into_text(self) -> String {
        let mut bytes = self.head;
        if self.cut > 0 {
            bytes.extend_from_slice(
                format!("\n[... {} bytes cut by Flotilla ...]\n", self.cut).as_bytes(),
            );
        }
        bytes.extend(self.tail);
        String::from_utf8_lossy(&bytes).into_owned()
    }
}
