use cloak_core::envelope::stream::{StreamOpener, StreamSealer};
use cloak_core::{KeyPair, OpenOptions, SealOptions};
use sha2::Digest;
use std::time::Instant;
fn main() {
    let s = KeyPair::generate(2048).unwrap();
    let r = KeyPair::generate(2048).unwrap();
    let data = vec![7u8; 1 << 20];
    let n = 512;
    let t = Instant::now();
    let mut h = sha2::Sha256::new();
    for _ in 0..n {
        h.update(&data);
    }
    let _ = h.finalize();
    println!(
        "sha256: {:.0} MB/s",
        (n << 20) as f64 / t.elapsed().as_secs_f64() / 1e6
    );
    let t = Instant::now();
    let mut h = blake3::Hasher::new();
    for _ in 0..n {
        for c in data.chunks(65536) {
            h.update(c);
        }
    }
    let _ = h.finalize();
    println!(
        "blake3: {:.0} MB/s",
        (n << 20) as f64 / t.elapsed().as_secs_f64() / 1e6
    );
    let (mut sealer, head) =
        StreamSealer::new(&s, r.public(), b"x", &SealOptions::default()).unwrap();
    let t = Instant::now();
    let mut chunks = Vec::new();
    for _ in 0..n {
        chunks.extend(sealer.push(&data).unwrap());
    }
    let end = sealer.finish().unwrap();
    println!(
        "seal: {:.0} MB/s",
        (n << 20) as f64 / t.elapsed().as_secs_f64() / 1e6
    );
    let mut opener = StreamOpener::new(&r, &head, &OpenOptions::default()).unwrap();
    let t = Instant::now();
    for c in &chunks {
        opener.chunk(c).unwrap();
    }
    opener.finish(&end.final_chunk).unwrap();
    println!(
        "open: {:.0} MB/s",
        (n << 20) as f64 / t.elapsed().as_secs_f64() / 1e6
    );
}
#[allow(dead_code)]
fn b3() {}
