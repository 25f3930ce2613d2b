//! Dropbox `content_hash`.
//!
//! Per the content-hash reference: split the file into 4,194,304-byte blocks
//! (the last one may be shorter), SHA-256 each block, concatenate the raw
//! 32-byte digests, SHA-256 that concatenation, and hex-encode the result.
//! An empty file has no blocks, so its hash is SHA-256 of the empty string.

use sha2::{Digest, Sha256};

/// Size of one content-hash block: 4 MiB.
pub const BLOCK_SIZE: usize = 4 * 1024 * 1024;

/// Streaming content-hash computation.
#[derive(Clone, Default)]
pub struct ContentHasher {
    overall: Sha256,
    block: Sha256,
    block_len: usize,
}

impl ContentHasher {
    /// A hasher with no data yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed more bytes; blocks are cut at absolute 4 MiB boundaries whatever
    /// the sizes of the pieces fed in.
    pub fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let room = BLOCK_SIZE - self.block_len;
            let take = room.min(data.len());
            self.block.update(&data[..take]);
            self.block_len += take;
            data = &data[take..];
            if self.block_len == BLOCK_SIZE {
                self.finish_block();
            }
        }
    }

    fn finish_block(&mut self) {
        let digest = std::mem::take(&mut self.block).finalize();
        self.overall.update(digest);
        self.block_len = 0;
    }

    /// The raw 32-byte hash.
    pub fn finalize(mut self) -> [u8; 32] {
        if self.block_len > 0 {
            self.finish_block();
        }
        self.overall.finalize().into()
    }

    /// The lowercase hex hash, as Dropbox reports it.
    pub fn finalize_hex(self) -> String {
        hex(&self.finalize())
    }
}

/// `content_hash` of a whole buffer, lowercase hex.
pub fn content_hash(data: &[u8]) -> String {
    let mut h = ContentHasher::new();
    h.update(data);
    h.finalize_hex()
}

/// Lowercase hex encoding.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file() {
        assert_eq!(
            content_hash(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn piecewise_equals_whole() {
        let data: Vec<u8> = (0..(BLOCK_SIZE + 12345)).map(|i| (i % 251) as u8).collect();
        let mut h = ContentHasher::new();
        for chunk in data.chunks(1000) {
            h.update(chunk);
        }
        assert_eq!(h.finalize_hex(), content_hash(&data));
    }
}
