//! A read buffer for the capture parsers: the file is read in large chunks and parsed in
//! place, so a packet is never copied and its byte offset in the file is known exactly.
//!
//! `pcap-file`'s own readers hide the offset (they read ahead 8 MB); its parsers work on a
//! slice and say how much they consumed, which is what this buffer feeds them.

use std::io::{self, Read};

/// Bytes read from the file at a time, and the buffer's starting size.
const CHUNK: usize = 1 << 20;
/// A block larger than this is not a packet: the file is corrupt.
pub const MAX_BLOCK: usize = 256 << 20;

pub struct ReadBuffer {
    reader: Box<dyn Read + Send>,
    buf: Vec<u8>,
    /// Unparsed bytes are `buf[pos..len]`.
    pos: usize,
    len: usize,
    /// File offset of `buf[pos]`.
    offset: u64,
    eof: bool,
}

impl ReadBuffer {
    pub fn new(reader: Box<dyn Read + Send>) -> ReadBuffer {
        ReadBuffer {
            reader,
            buf: vec![0; CHUNK],
            pos: 0,
            len: 0,
            offset: 0,
            eof: false,
        }
    }

    /// The unparsed bytes.
    pub fn data(&self) -> &[u8] {
        &self.buf[self.pos..self.len]
    }

    /// File offset of the first unparsed byte.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// True when the file is exhausted and every byte was parsed.
    pub fn at_end(&mut self) -> io::Result<bool> {
        if self.pos < self.len {
            return Ok(false);
        }
        Ok(self.fill()? == 0)
    }

    /// Marks `n` bytes as parsed.
    pub fn consume(&mut self, n: usize) {
        self.pos += n;
        self.offset += n as u64;
    }

    /// Reads more of the file after the unparsed bytes (moving them to the front, growing
    /// the buffer when they fill it). Returns the bytes added; 0 at the end of the file.
    pub fn fill(&mut self) -> io::Result<usize> {
        if self.eof {
            return Ok(0);
        }
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.len, 0);
            self.len -= self.pos;
            self.pos = 0;
        }
        if self.len == self.buf.len() {
            if self.buf.len() >= MAX_BLOCK {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("a block larger than {MAX_BLOCK} bytes"),
                ));
            }
            self.buf.resize(self.buf.len() * 2, 0);
        }
        loop {
            match self.reader.read(&mut self.buf[self.len..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(0);
                }
                Ok(n) => {
                    self.len += n;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }
}
