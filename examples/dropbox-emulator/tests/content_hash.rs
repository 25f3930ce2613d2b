//! `content_hash` vectors: the empty file, and block-boundary sizes of 'A'
//! bytes. The expected values are the published ones (rclone's dbhash tests)
//! and are also recomputed here a second, independent way (one-shot SHA-256
//! per slice of the whole buffer, no streaming state).

mod common;

use dropbox_emulator::content_hash;
use dropbox_emulator::hash::ContentHasher;
use reqwest::StatusCode;
use sha2::{Digest, Sha256};

const MIB4: usize = 4 * 1024 * 1024;

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
        4194303,
        "647c8627d70f7a7d13ce96b1e7710a771a55d41a62c3da490d92e56044d311fa",
    ),
    (
        4194304,
        "d4d63bac5b866c71620185392a8a6218ac1092454a2d16f820363b69852befa3",
    ),
    (
        4194305,
        "8f553da8d00d0bf509d8470e242888be33019c20c0544811f5b2b89e98360b92",
    ),
    (
        8388607,
        "83b30cf4fb5195b04a937727ae379cf3d06673bf8f77947f6a92858536e8369c",
    ),
    (
        8388608,
        "e08b3ba1f538804075c5f939accdeaa9efc7b5c01865c94a41e78ca6550a88e7",
    ),
    (
        8388609,
        "02c8a4aefc2bfc9036f89a7098001865885938ca580e5c9e5db672385edd303c",
    ),
];

/// Independent implementation: index arithmetic over the whole buffer.
fn reference(data: &[u8]) -> String {
    let n_blocks = data.len().div_ceil(MIB4);
    let mut concat = Vec::with_capacity(n_blocks * 32);
    for i in 0..n_blocks {
        let start = i * MIB4;
        let end = usize::min(start + MIB4, data.len());
        concat.extend_from_slice(&Sha256::digest(&data[start..end]));
    }
    Sha256::digest(&concat)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn published_vectors_and_independent_recomputation() {
    let all_a = vec![b'A'; 8388609];
    for &(n, want) in VECTORS {
        let data = &all_a[..n];
        assert_eq!(content_hash(data), want, "size {n}");
        assert_eq!(reference(data), want, "reference, size {n}");
    }
}

#[test]
fn streaming_in_odd_pieces_matches() {
    let data: Vec<u8> = (0..(2 * MIB4 + 777))
        .map(|i| (i * 31 % 256) as u8)
        .collect();
    for piece in [1usize, 2047, 65536, MIB4 - 1, MIB4 + 1] {
        let mut h = ContentHasher::new();
        for chunk in data.chunks(piece) {
            h.update(chunk);
        }
        assert_eq!(h.finalize_hex(), reference(&data), "pieces of {piece}");
    }
}

#[tokio::test]
async fn uploads_report_the_content_hash() {
    let env = common::start().await;
    let data = vec![b'A'; 4194305];
    let r = env
        .upload(serde_json::json!({"path": "/big.bin"}), &data)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        r.json()["content_hash"],
        "8f553da8d00d0bf509d8470e242888be33019c20c0544811f5b2b89e98360b92"
    );
    let r = env.upload(serde_json::json!({"path": "/empty"}), b"").await;
    assert_eq!(
        r.json()["content_hash"],
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}
