//! The pool's promises, with real threads: a peer with long jobs cannot
//! keep another peer waiting for more than a step, admission is bounded per
//! address, and a withdrawn request never runs.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use super::*;

const A: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const B: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));

fn step() {
    std::thread::sleep(Duration::from_millis(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_job_lets_another_address_in_between_its_steps() {
    let pool = Pool::new(1);
    let steps = Arc::new(AtomicUsize::new(0));
    let mut flood = Vec::new();
    for _ in 0..4 {
        let (pool, steps) = (pool.clone(), Arc::clone(&steps));
        flood.push(tokio::spawn(async move {
            pool.run(A, move |turn| {
                for _ in 0..40 {
                    assert!(turn.pace());
                    steps.fetch_add(1, Ordering::SeqCst);
                    step();
                }
            })
            .await
        }));
    }
    tokio::time::sleep(Duration::from_millis(30)).await;
    let before = steps.load(Ordering::SeqCst);
    let seen = Arc::clone(&steps);
    let ran_at = pool
        .run(B, move |_| seen.load(Ordering::SeqCst))
        .await
        .unwrap();
    // B waited for the step under way and the one queued before it, not
    // for the 160 steps of A's jobs.
    assert!(ran_at - before <= 3, "B waited {} steps", ran_at - before);
    for job in flood {
        job.await.unwrap().unwrap();
    }
    assert_eq!(steps.load(Ordering::SeqCst), 40 * 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_is_bounded_per_address() {
    let pool = Pool::new(1);
    let (release, hold) = mpsc::channel::<()>();
    let hold = Arc::new(Mutex::new(hold));
    let mut held = Vec::new();
    for _ in 0..PER_PEER_JOBS {
        let (pool, hold) = (pool.clone(), Arc::clone(&hold));
        held.push(tokio::spawn(async move {
            pool.run(A, move |_| {
                let _ = hold.lock().unwrap().recv();
            })
            .await
        }));
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(pool.run(A, |_| ()).await, Err(Refused::Busy));
    // Another address is still admitted (and waits for the slot).
    let other = tokio::spawn({
        let pool = pool.clone();
        async move { pool.run(B, |_| 7).await }
    });
    for _ in 0..PER_PEER_JOBS {
        release.send(()).unwrap();
    }
    assert_eq!(other.await.unwrap(), Ok(7));
    for job in held {
        job.await.unwrap().unwrap();
    }
    assert_eq!(pool.run(A, |_| 1).await, Ok(1), "admissions are returned");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_withdrawn_request_never_runs_and_a_started_one_stops() {
    let pool = Pool::new(1);
    let (release, hold) = mpsc::channel::<()>();
    let blocker = tokio::spawn({
        let pool = pool.clone();
        async move {
            pool.run(A, move |_| {
                let _ = hold.recv();
            })
            .await
        }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    let ran = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&ran);
    let waiting = tokio::spawn({
        let pool = pool.clone();
        async move {
            pool.run(B, move |_| counted.fetch_add(1, Ordering::SeqCst))
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    waiting.abort();
    let _ = waiting.await;
    release.send(()).unwrap();
    blocker.await.unwrap().unwrap();

    // A started job whose caller leaves stops at its next step.
    let steps = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&steps);
    let long = tokio::spawn({
        let pool = pool.clone();
        async move {
            pool.run(A, move |turn| {
                while turn.pace() {
                    counted.fetch_add(1, Ordering::SeqCst);
                    step();
                }
            })
            .await
        }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    long.abort();
    let _ = long.await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let stopped_at = steps.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(steps.load(Ordering::SeqCst), stopped_at, "it went on");
    assert_eq!(ran.load(Ordering::SeqCst), 0, "the withdrawn job ran");
    assert_eq!(pool.run(B, |_| 2).await, Ok(2), "the slot came back");
}

fn v6(text: &str) -> IpAddr {
    text.parse::<Ipv6Addr>().unwrap().into()
}

#[test]
fn ipv6_sites_count_per_48_and_carried_ipv4_as_itself() {
    let site = fairness_key(v6("2001:db8:1:2:aaaa::1"));
    assert_eq!(fairness_key(v6("2001:db8:1:ff:bbbb::9")), site);
    assert_ne!(fairness_key(v6("2001:db8:2::1")), site);
    let v4 = "10.0.0.1".parse::<IpAddr>().unwrap();
    assert_eq!(fairness_key(v6("::ffff:10.0.0.1")), v4);
    assert_eq!(fairness_key(v6("2002:0a00:0001:7::1")), v4);
    assert_eq!(fairness_key(v6("2002:0a00:0001:8::2")), v4);
    assert_eq!(fairness_key(v6("64:ff9b::10.0.0.1")), v4);
    assert_eq!(fairness_key(A), A);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_still_admits_an_address_with_nothing_queued() {
    let pool = Pool::new(1);
    let (release, hold) = mpsc::channel::<()>();
    let hold = Arc::new(Mutex::new(hold));
    let mut held = Vec::new();
    for i in 0..MAX_JOBS {
        // Below the per-address bound everywhere: the total is what is full.
        let peer = IpAddr::V4(Ipv4Addr::new(10, 0, (i / (PER_PEER_JOBS - 1)) as u8, 1));
        let (pool, hold) = (pool.clone(), Arc::clone(&hold));
        held.push(tokio::spawn(async move {
            pool.run(peer, move |_| {
                let _ = hold.lock().unwrap().recv();
            })
            .await
        }));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let crowded = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    assert_eq!(pool.run(crowded, |_| ()).await, Err(Refused::Busy));
    let newcomer = tokio::spawn({
        let pool = pool.clone();
        async move { pool.run(B, |_| 5).await }
    });
    for _ in 0..MAX_JOBS {
        release.send(()).unwrap();
    }
    assert_eq!(newcomer.await.unwrap(), Ok(5));
    for job in held {
        job.await.unwrap().unwrap();
    }
}
