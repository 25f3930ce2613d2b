//! Dropbox's `content_hash`.
//!
//! Split the bytes into 4,194,304-byte blocks, SHA-256 each block, concatenate
//! the raw digests, SHA-256 that, hex. Knowing it locally lets the folder skip
//! uploads of bytes that are already there without downloading them.

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
    let digest = overall.finalize();
    let mut hex = String::with_capacity(64);
    for b in digest {
        hex.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
        hex.push(char::from_digit(u32::from(b & 0xf), 16).unwrap_or('0'));
    }
    hex
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
}
