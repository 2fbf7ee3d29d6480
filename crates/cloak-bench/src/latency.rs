//! Latency figures as the bench prints them, shared by the load runs so
//! that every p50 and p99 is computed the same way.

use std::time::Duration;

/// The `q` quantile of `sorted` (nearest rank), zero when empty.
pub fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

/// `p50_ms X p99_ms Y` for samples in any order, each field name after
/// `prefix`.
pub fn p50_p99(prefix: &str, samples: &mut [Duration]) -> String {
    samples.sort();
    let ms = |q| quantile(samples, q).as_secs_f64() * 1e3;
    format!(
        "{prefix}p50_ms {:.2} {prefix}p99_ms {:.2}",
        ms(0.50),
        ms(0.99)
    )
}
