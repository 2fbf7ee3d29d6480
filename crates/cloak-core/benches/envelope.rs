//! Criterion benchmarks: seal and open 1 KiB in both modes, and hybrid 1 MiB,
//! with 3072-bit keys (the default size); and what the sender proof adds to
//! a send: making it (the sender), checking it (the server), beside sealing
//! and opening the 1 KiB envelope in the same run.

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
    proof(c, &sender, &recipient);
}

/// The sender proof in each mode: the sender's side (a PSS signature, and
/// in asymmetric mode an OAEP wrap), the server's (in asymmetric mode the
/// unwrap, its one private-key operation; in hybrid mode the stream's own
/// unwrap serves, so only the open and the PSS verify are extra).
fn proof(c: &mut Criterion, sender: &KeyPair, server: &KeyPair) {
    use cloak_core::envelope::stream::{StreamOpener, StreamSealer};
    use cloak_core::session::ClientMessage;
    use cloak_core::session::sender_proof::{
        claim_envelope, claim_stream, prove_envelope, prove_stream,
    };
    let challenge = [7u8; 32];
    let envelope = vec![1u8; 1024];
    let mut group = c.benchmark_group("sender-proof-3072");
    group.sample_size(20);
    group.bench_function("prove/asymmetric", |b| {
        b.iter(|| prove_envelope(sender, server.public(), &challenge, envelope.clone()).unwrap())
    });
    let Ok(ClientMessage::Send {
        wrapped_key,
        proof,
        envelope,
    }) = prove_envelope(sender, server.public(), &challenge, envelope.clone())
    else {
        unreachable!("prove_envelope makes a Send");
    };
    group.bench_function("check/asymmetric", |b| {
        b.iter(|| {
            let claim = claim_envelope(server, &challenge, &wrapped_key, &proof, &envelope);
            assert!(claim.verify(Some(sender.public())));
        })
    });
    group.bench_function("prove/hybrid", |b| {
        b.iter_batched(
            || {
                StreamSealer::new(sender, server.public(), &challenge, &SealOptions::default())
                    .unwrap()
            },
            |(mut sealer, head)| {
                prove_stream(&mut sealer, sender, server.fingerprint(), &challenge, head).unwrap()
            },
            criterion::BatchSize::SmallInput,
        )
    });
    let (mut sealer, head) =
        StreamSealer::new(sender, server.public(), &challenge, &SealOptions::default()).unwrap();
    let Ok(ClientMessage::SendStream { head, proof }) =
        prove_stream(&mut sealer, sender, server.fingerprint(), &challenge, head)
    else {
        unreachable!("prove_stream makes a SendStream");
    };
    let opener = StreamOpener::new(server, &head, &OpenOptions::default()).unwrap();
    group.bench_function("check/hybrid (after the stream's unwrap)", |b| {
        b.iter(|| {
            let claim = claim_stream(server, &opener, &challenge, &head, &proof);
            assert!(claim.verify(Some(sender.public())));
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
