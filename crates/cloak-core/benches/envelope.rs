//! Criterion benchmarks: seal and open 1 KiB in both modes, and hybrid 1 MiB,
//! with 3072-bit keys (the default size).

use cloak_core::{FreshnessCheck, KeyPair, Mode, OpenOptions, SealOptions, open, seal};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

const FRESH: &[u8] = b"benchmark challenge";

fn bench(c: &mut Criterion) {
    let sender = KeyPair::generate(3072).expect("keygen");
    let recipient = KeyPair::generate(3072).expect("keygen");
    let cases = [
        (Mode::Asymmetric, 1024usize),
        (Mode::Hybrid, 1024),
        (Mode::Hybrid, 1024 * 1024),
    ];
    let mut group = c.benchmark_group("envelope-3072");
    group.sample_size(20);
    for (mode, size) in cases {
        let text = vec![0x5au8; size];
        let id = format!("{mode}/{size}");
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(BenchmarkId::new("seal", &id), |b| {
            b.iter(|| {
                seal(
                    &sender,
                    recipient.public(),
                    mode,
                    FRESH,
                    &text,
                    &SealOptions::default(),
                )
                .expect("seal")
            })
        });
        let sealed = seal(
            &sender,
            recipient.public(),
            mode,
            FRESH,
            &text,
            &SealOptions::default(),
        )
        .expect("seal");
        group.bench_function(BenchmarkId::new("open", &id), |b| {
            b.iter(|| {
                open(
                    &recipient,
                    sender.public(),
                    &sealed.bytes,
                    FreshnessCheck::Expect(FRESH),
                    &OpenOptions::default(),
                )
                .expect("open")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
