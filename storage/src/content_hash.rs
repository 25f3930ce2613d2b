//! Dropbox's `content_hash`, whole or resumable.
//!
//! Split the bytes into 4,194,304-byte blocks, SHA-256 each block, concatenate
//! the raw digests, SHA-256 that, hex. Knowing it locally lets the Dropbox
//! folder skip uploads of bytes that are already there, and lets a reader
//! that keeps a [`ContentHasher`] over the bytes it consumed check that a
//! file still starts with them by downloading only what follows: the prefix
//! state extended by the new bytes must give the new version's hash.

use sha2::digest::generic_array::GenericArray;
use sha2::{Digest, Sha256};

/// One content-hash block: 4 MiB.
pub const BLOCK_SIZE: usize = 4 * 1024 * 1024;

/// The lowercase hex `content_hash` of `data`, as Dropbox reports it.
pub fn content_hash(data: &[u8]) -> String {
    let mut overall = Sha256::new();
    // An empty file has no blocks: the hash of the empty concatenation.
    for block in data.chunks(BLOCK_SIZE) {
        overall.update(Sha256::digest(block));
    }
    hex(&overall.finalize())
}

fn hex(digest: &[u8]) -> String {
    let mut hex = String::with_capacity(digest.len() * 2);
    for b in digest {
        hex.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
        hex.push(char::from_digit(u32::from(b & 0xf), 16).unwrap_or('0'));
    }
    hex
}

const H0: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// SHA-256 whose state can be saved and resumed (`sha2::Sha256` cannot be
/// serialised): the chaining value, the unprocessed < 64 bytes and the length.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Sha256State {
    h: [u32; 8],
    buf: Vec<u8>,
    len: u64,
}

impl Default for Sha256State {
    fn default() -> Self {
        Sha256State {
            h: H0,
            buf: Vec::with_capacity(64),
            len: 0,
        }
    }
}

impl Sha256State {
    fn update(&mut self, mut data: &[u8]) {
        self.len += data.len() as u64;
        if !self.buf.is_empty() {
            let take = (64 - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() < 64 {
                return;
            }
            let block = GenericArray::clone_from_slice(&self.buf);
            sha2::compress256(&mut self.h, &[block]);
            self.buf.clear();
        }
        let whole = data.len() / 64 * 64;
        if whole > 0 {
            let blocks: Vec<_> = data[..whole]
                .chunks_exact(64)
                .map(GenericArray::clone_from_slice)
                .collect();
            sha2::compress256(&mut self.h, &blocks);
        }
        self.buf.extend_from_slice(&data[whole..]);
    }

    fn finish(&self) -> [u8; 32] {
        let mut s = self.clone();
        let bits = s.len.wrapping_mul(8);
        let mut pad = vec![0x80u8];
        let used = (s.buf.len() + 1) % 64;
        pad.resize(1 + (120 - used) % 64, 0);
        pad.extend_from_slice(&bits.to_be_bytes());
        s.update(&pad);
        debug_assert!(s.buf.is_empty());
        let mut out = [0u8; 32];
        for (o, w) in out.chunks_exact_mut(4).zip(s.h) {
            o.copy_from_slice(&w.to_be_bytes());
        }
        out
    }

    fn encode(&self, out: &mut Vec<u8>) {
        for w in self.h {
            out.extend_from_slice(&w.to_be_bytes());
        }
        out.extend_from_slice(&self.len.to_be_bytes());
        out.extend_from_slice(&self.buf);
    }

    fn decode(bytes: &[u8]) -> Option<(Self, &[u8])> {
        let (h_bytes, rest) = bytes.split_at_checked(32)?;
        let (len_bytes, rest) = rest.split_at_checked(8)?;
        let mut h = [0u32; 8];
        for (w, c) in h.iter_mut().zip(h_bytes.chunks_exact(4)) {
            *w = u32::from_be_bytes(c.try_into().ok()?);
        }
        let len = u64::from_be_bytes(len_bytes.try_into().ok()?);
        let (buf, rest) = rest.split_at_checked(usize::try_from(len % 64).ok()?)?;
        Some((
            Sha256State {
                h,
                buf: buf.to_vec(),
                len,
            },
            rest,
        ))
    }
}

/// The content hash of a growing byte stream, resumable: the state is a
/// few hundred bytes whatever the length (the finished blocks are folded
/// into the running outer hash), so a cursor can keep it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContentHasher {
    /// SHA-256 over the finished blocks' digests.
    outer: Sha256State,
    /// SHA-256 of the open block.
    block: Sha256State,
}

impl ContentHasher {
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes hashed so far.
    pub fn len(&self) -> u64 {
        self.outer.len / 32 * BLOCK_SIZE as u64 + self.block.len
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let room = BLOCK_SIZE - usize::try_from(self.block.len).unwrap_or(BLOCK_SIZE);
            let take = room.min(data.len());
            self.block.update(&data[..take]);
            data = &data[take..];
            if self.block.len == BLOCK_SIZE as u64 {
                let digest = self.block.finish();
                self.outer.update(&digest);
                self.block = Sha256State::default();
            }
        }
    }

    /// The hex `content_hash` of everything so far.
    pub fn finish(&self) -> String {
        let mut outer = self.outer.clone();
        if self.block.len > 0 {
            outer.update(&self.block.finish());
        }
        hex(&outer.finish())
    }

    /// The state as a short string (hex), for a durable cursor.
    pub fn encode(&self) -> String {
        let mut raw = Vec::with_capacity(200);
        self.outer.encode(&mut raw);
        self.block.encode(&mut raw);
        hex(&raw)
    }

    /// Reads [`ContentHasher::encode`]'s output; `None` if it is not one.
    pub fn decode(s: &str) -> Option<Self> {
        if !s.len().is_multiple_of(2) || !s.is_ascii() {
            return None;
        }
        let raw = (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
            .collect::<Option<Vec<u8>>>()?;
        let (outer, rest) = Sha256State::decode(&raw)?;
        let (block, rest) = Sha256State::decode(rest)?;
        let valid =
            rest.is_empty() && outer.len.is_multiple_of(32) && block.len < BLOCK_SIZE as u64;
        valid.then_some(ContentHasher { outer, block })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Dropbox's published boundary vectors (files of `A` bytes), as
    /// collected by rclone's dbhash tests.
    const VECTORS: &[(usize, &str)] = &[
        (
            0,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ),
        (
            1,
            "1cd6ef71e6e0ff46ad2609d403dc3fee244417089aa4461245a4e4fe23a55e42",
        ),
        (
            2,
            "01e0655fb754d10418a73760f57515f4903b298e6d67dda6bf0987fa79c22c88",
        ),
        (
            4096,
            "8620913d33852befe09f16fff8fd75f77a83160d29f76f07e0276e9690903035",
        ),
        (
            4_194_303,
            "647c8627d70f7a7d13ce96b1e7710a771a55d41a62c3da490d92e56044d311fa",
        ),
        (
            4_194_304,
            "d4d63bac5b866c71620185392a8a6218ac1092454a2d16f820363b69852befa3",
        ),
        (
            4_194_305,
            "8f553da8d00d0bf509d8470e242888be33019c20c0544811f5b2b89e98360b92",
        ),
        (
            8_388_607,
            "83b30cf4fb5195b04a937727ae379cf3d06673bf8f77947f6a92858536e8369c",
        ),
        (
            8_388_608,
            "e08b3ba1f538804075c5f939accdeaa9efc7b5c01865c94a41e78ca6550a88e7",
        ),
        (
            8_388_609,
            "02c8a4aefc2bfc9036f89a7098001865885938ca580e5c9e5db672385edd303c",
        ),
    ];

    #[test]
    fn published_vectors() {
        let all_a = vec![b'A'; 8_388_609];
        for &(n, want) in VECTORS {
            assert_eq!(content_hash(&all_a[..n]), want, "{n} bytes");
        }
    }

    #[test]
    fn agrees_with_the_emulator() {
        let data: Vec<u8> = (0..(BLOCK_SIZE + 999)).map(|i| (i % 251) as u8).collect();
        assert_eq!(content_hash(&data), dropbox_emulator::content_hash(&data));
    }

    #[test]
    fn resumable_matches_published_vectors_across_block_edges() {
        let all_a = vec![b'A'; 8_388_609];
        for &(n, want) in VECTORS {
            let mut h = ContentHasher::new();
            // Odd-sized pieces cross both the 64-byte and the 4 MiB edges.
            for piece in all_a[..n].chunks(1_000_003) {
                h.update(piece);
            }
            assert_eq!(h.finish(), want, "{n} bytes");
            assert_eq!(h.len(), n as u64);
            let back = ContentHasher::decode(&h.encode()).expect("decodes");
            assert_eq!(back, h);
        }
    }

    #[test]
    fn decode_refuses_what_encode_never_makes() {
        let good = {
            let mut h = ContentHasher::new();
            h.update(b"rend:Render x.ma\n");
            h.encode()
        };
        for bad in [
            "",
            "zz",
            "abc",
            &good[..good.len() - 2],
            &format!("{good}00"),
        ] {
            assert!(ContentHasher::decode(bad).is_none(), "{bad:?}");
        }
    }

    proptest::proptest! {
        /// Any split, saved and resumed between the pieces, gives the
        /// one-shot hash; the state stays small.
        #[test]
        fn split_and_resumed_equals_whole(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
            cuts in proptest::collection::vec(0usize..600, 0..6),
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(data.len())).collect();
            cuts.push(data.len());
            cuts.sort_unstable();
            let mut h = ContentHasher::new();
            let mut at = 0;
            for c in cuts {
                h.update(&data[at..c]);
                at = c;
                let s = h.encode();
                proptest::prop_assert!(s.len() <= 2 * (2 * (40 + 63)));
                h = ContentHasher::decode(&s).expect("decodes");
                proptest::prop_assert_eq!(h.finish(), content_hash(&data[..c]));
            }
        }
    }
}
