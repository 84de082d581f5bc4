//! The collective on loopback: every rank a thread in this process, as a Spark barrier stage's
//! tasks would be processes on several hosts. Sums use integer-valued floats, so the expected
//! sum is exact whatever the order of additions, and any difference is a real error.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use keel_train::collective::{
    AuthFailure, Error, Group, GroupConfig, MIN_SECRET_LEN, Op, bind, bind_port,
};

const SECRET: &[u8] = b"a per-job secret of 32 bytes....";
const JOB: &str = "application_1700000000000_0001/stage-3";

/// One config per rank, listeners bound on loopback, all with `timeout`.
fn configs(world: usize, timeout: Duration) -> Vec<GroupConfig> {
    let bound: Vec<(TcpListener, String)> =
        (0..world).map(|_| bind("127.0.0.1").unwrap()).collect();
    let addresses: Vec<String> = bound.iter().map(|(_, a)| a.clone()).collect();
    bound
        .into_iter()
        .enumerate()
        .map(|(rank, (listener, _))| {
            GroupConfig::new(
                rank,
                addresses.clone(),
                listener,
                SECRET.to_vec(),
                JOB,
                timeout,
            )
        })
        .collect()
}

/// Connects each config on its own thread and runs `f` there; results by rank.
fn run<T: Send>(
    configs: Vec<GroupConfig>,
    f: impl Fn(usize, Result<Group, Error>) -> T + Sync,
) -> Vec<T> {
    std::thread::scope(|s| {
        let handles: Vec<_> = configs
            .into_iter()
            .map(|c| {
                let f = &f;
                s.spawn(move || {
                    let rank = c.rank;
                    f(rank, Group::connect(c))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// Runs `f` on every rank of a connected group of `world`.
fn with_group<T: Send>(world: usize, f: impl Fn(usize, Group) -> T + Sync) -> Vec<T> {
    run(configs(world, Duration::from_secs(10)), |rank, g| {
        f(rank, g.unwrap())
    })
}

/// Rank `rank`'s integer-valued contribution at index `i`.
fn value(rank: usize, i: usize) -> f32 {
    ((i * 31 + rank * 7919) % 2001) as f32 - 1000.0
}

#[test]
fn a_local_group_returns_its_input() {
    let mut g = Group::local();
    assert_eq!((g.rank(), g.world()), (0, 1));
    let mut x = vec![1.5f32, -2.0];
    g.allreduce_sum(&mut x).unwrap();
    assert_eq!(x, [1.5, -2.0]);
    assert_eq!(g.allgather_bytes(b"abc").unwrap(), vec![b"abc".to_vec()]);
    let mut b = b"root".to_vec();
    g.broadcast_bytes(0, &mut b).unwrap();
    assert_eq!(b, b"root");
    assert!(matches!(
        g.broadcast_bytes(1, &mut b),
        Err(Error::Invalid { .. })
    ));
    let mut m = [0.1f64, 0.2];
    g.allreduce_f64_sum(&mut m).unwrap();
    assert_eq!(m, [0.1, 0.2]);
    g.barrier().unwrap();
}

#[test]
fn allreduce_sums_exactly_and_identically_on_every_rank() {
    // 5,600 floats (22 KB) is one direct exchange between two ranks on loopback; 10,000 is
    // past that and goes round the ring.
    let lengths = [0, 1, 2, 3, 5, 17, 1000, 5_600, 10_000, 1_000_000];
    for world in 1..=4 {
        let results = with_group(world, |rank, mut g| {
            assert_eq!((g.rank(), g.world()), (rank, world));
            lengths
                .iter()
                .map(|&n| {
                    let mut x: Vec<f32> = (0..n).map(|i| value(rank, i)).collect();
                    g.allreduce_sum(&mut x).unwrap();
                    x
                })
                .collect::<Vec<_>>()
        });
        for (k, &n) in lengths.iter().enumerate() {
            let expected: Vec<f32> = (0..n)
                .map(|i| (0..world).map(|r| value(r, i)).sum())
                .collect();
            for (rank, per_rank) in results.iter().enumerate() {
                // Bit-identical on every rank (NaN-free data, so == on f32 bits is the check).
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(
                    bits(&per_rank[k]),
                    bits(&expected),
                    "world {world}, length {n}, rank {rank}"
                );
            }
        }
    }
}

#[test]
fn allgather_returns_every_ranks_bytes_by_rank() {
    for world in 1..=4 {
        // Rank 1 sends nothing; the others 3 × rank + 1 bytes, one of them large.
        let block = |rank: usize| -> Vec<u8> {
            match rank {
                1 => Vec::new(),
                3 => (0..300_000).map(|i| (i % 251) as u8).collect(),
                r => vec![r as u8; 3 * r + 1],
            }
        };
        let results = with_group(world, |rank, mut g| {
            g.allgather_bytes(&block(rank)).unwrap()
        });
        let expected: Vec<Vec<u8>> = (0..world).map(block).collect();
        for got in results {
            assert_eq!(got, expected, "world {world}");
        }
    }
}

#[test]
fn broadcast_copies_the_roots_bytes_from_every_root() {
    for world in 1..=4 {
        let results = with_group(world, |rank, mut g| {
            (0..world)
                .map(|root| {
                    // Non-roots start with junk of another length, which must be replaced.
                    let mut data = if rank == root {
                        format!("from root {root}").into_bytes()
                    } else {
                        vec![9; 3]
                    };
                    g.broadcast_bytes(root, &mut data).unwrap();
                    data
                })
                .collect::<Vec<_>>()
        });
        for got in results {
            let expected: Vec<Vec<u8>> = (0..world)
                .map(|root| format!("from root {root}").into_bytes())
                .collect();
            assert_eq!(got, expected, "world {world}");
        }
    }
}

#[test]
fn allreduce_f64_adds_in_rank_order_with_identical_bits() {
    let local = |rank: usize| {
        [
            0.1 * (rank + 1) as f64,
            1e16 / (rank + 1) as f64,
            -(rank as f64),
        ]
    };
    for world in 1..=4 {
        let results = with_group(world, |rank, mut g| {
            let mut m = local(rank);
            g.allreduce_f64_sum(&mut m).unwrap();
            m.map(f64::to_bits)
        });
        let mut expected = local(0);
        for r in 1..world {
            for (e, x) in expected.iter_mut().zip(local(r)) {
                *e += x;
            }
        }
        for got in results {
            assert_eq!(got, expected.map(f64::to_bits), "world {world}");
        }
    }
}

#[test]
fn barriers_and_mixed_operations_stay_in_step() {
    let results = with_group(3, |rank, mut g| {
        let mut out = Vec::new();
        for round in 0..20 {
            g.barrier().unwrap();
            let mut x = vec![(rank + round) as f32; 7];
            g.allreduce_sum(&mut x).unwrap();
            let gathered = g.allgather_bytes(&[rank as u8; 2]).unwrap();
            let mut b = if rank == round % 3 {
                vec![round as u8]
            } else {
                Vec::new()
            };
            g.broadcast_bytes(round % 3, &mut b).unwrap();
            out.push((x[0], gathered, b));
        }
        out
    });
    for per_rank in &results {
        for (round, (sum, gathered, b)) in per_rank.iter().enumerate() {
            assert_eq!(*sum, (3 * round + 3) as f32);
            assert_eq!(*gathered, vec![vec![0, 0], vec![1, 1], vec![2, 2]]);
            assert_eq!(*b, vec![round as u8]);
        }
    }
}

/// Connects `configs` and returns each rank's error, checking that nobody hangs.
fn setup_errors(configs: Vec<GroupConfig>, within: Duration) -> Vec<Error> {
    let start = Instant::now();
    let errors = run(configs, |rank, g| match g {
        Ok(_) => panic!("rank {rank} connected"),
        Err(e) => e,
    });
    assert!(start.elapsed() < within, "setup took {:?}", start.elapsed());
    errors
}

#[test]
fn a_wrong_secret_is_an_auth_error_on_both_sides() {
    let mut configs = configs(2, Duration::from_secs(10));
    configs[1].secret = b"another secret of 32 bytes......".to_vec();
    let errors = setup_errors(configs, Duration::from_secs(5));
    for (rank, e) in errors.iter().enumerate() {
        assert!(
            matches!(e, Error::Auth { rank: peer, reason: AuthFailure::BadProof } if *peer == 1 - rank),
            "rank {rank}: {e}"
        );
        // The message never shows either secret.
        let text = format!("{e} {e:?}");
        assert!(
            !text.contains("per-job secret") && !text.contains("another secret"),
            "{text}"
        );
    }
}

#[test]
fn a_wrong_job_is_an_auth_error_on_both_sides() {
    let mut configs = configs(2, Duration::from_secs(10));
    configs[1].job = "another job".into();
    let errors = setup_errors(configs, Duration::from_secs(5));
    // Job ids are not secret: each side names the other's.
    for (rank, (e, peer_job)) in errors.iter().zip(["another job", JOB]).enumerate() {
        assert!(
            matches!(e, Error::Auth { rank: peer, reason: AuthFailure::JobMismatch { peer_job: j } }
                if *peer == 1 - rank && j == peer_job),
            "rank {rank}: {e}"
        );
    }
}

#[test]
fn a_wrong_job_fails_every_rank_of_a_larger_ring() {
    let mut configs = configs(4, Duration::from_secs(10));
    configs[2].job = "another job".into();
    let errors = setup_errors(configs, Duration::from_secs(5));
    // The first failure is a job mismatch on a link to rank 2; a rank whose neighbour gave up
    // on that account may see the neighbour close instead, but nobody waits for its timeout.
    assert!(
        errors.iter().any(|e| matches!(
            e,
            Error::Auth {
                reason: AuthFailure::JobMismatch { .. },
                ..
            }
        )),
        "{errors:?}"
    );
    for e in &errors {
        assert!(
            matches!(
                e,
                Error::Auth {
                    reason: AuthFailure::JobMismatch { .. },
                    ..
                } | Error::PeerClosed {
                    op: Op::Handshake,
                    ..
                }
            ),
            "{e}"
        );
    }
}

#[test]
fn a_world_size_mismatch_is_an_auth_error() {
    let timeout = Duration::from_secs(1);
    let mut configs = configs(2, timeout);
    // Rank 1 believes in a third rank (an address nobody listens on), which it dials until its
    // timeout; the mismatch found on the link from rank 0 is still the error reported.
    let dead = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    configs[1].addresses.push(dead);
    let errors = setup_errors(configs, timeout * 4);
    for e in &errors {
        assert!(
            matches!(
                e,
                Error::Auth {
                    reason: AuthFailure::WorldMismatch { .. },
                    ..
                }
            ),
            "{e}"
        );
    }
}

#[test]
fn a_rank_that_never_starts_is_named_in_a_timeout() {
    let timeout = Duration::from_secs(1);
    let mut configs = configs(3, timeout);
    let missing = configs.pop().unwrap();
    let missing_address = missing.addresses[2].clone();
    drop(missing); // closes rank 2's listener: connections to it are refused
    let errors = setup_errors(configs, timeout * 4);
    assert!(
        matches!(&errors[0], Error::AcceptTimeout { rank: 2, .. }),
        "{}",
        errors[0]
    );
    match &errors[1] {
        Error::ConnectTimeout {
            rank: 2, address, ..
        } => assert_eq!(*address, missing_address),
        e => panic!("rank 1: {e}"),
    }
    assert!(errors[1].to_string().contains(&missing_address));
}

#[test]
fn a_peer_that_dies_fails_the_others_without_hanging() {
    let timeout = Duration::from_secs(5);
    for world in [2, 4] {
        let dying = world - 1;
        let start = Instant::now();
        let results = run(configs(world, timeout), |rank, g| {
            let mut g = g.unwrap();
            let mut x = vec![1.0f32; 1_000_000];
            g.allreduce_sum(&mut x).unwrap();
            if rank == dying {
                return None; // drops the group: both sockets close
            }
            let second = g.allreduce_sum(&mut x).err();
            let third = g.barrier().err();
            Some((second, third))
        });
        assert!(
            start.elapsed() < timeout * 2,
            "world {world}: {:?}",
            start.elapsed()
        );
        for (rank, r) in results.into_iter().enumerate() {
            let Some((second, third)) = r else { continue };
            let second = second.unwrap_or_else(|| panic!("rank {rank}: allreduce succeeded"));
            assert!(
                matches!(
                    second,
                    Error::PeerClosed {
                        op: Op::AllreduceSum,
                        ..
                    } | Error::Timeout {
                        op: Op::AllreduceSum,
                        ..
                    }
                ),
                "world {world}, rank {rank}: {second}"
            );
            assert!(
                matches!(third, Some(Error::Broken)),
                "rank {rank}: {third:?}"
            );
        }
    }
}

#[test]
fn mismatched_lengths_are_a_protocol_error() {
    let results = with_group(2, |rank, mut g| {
        let mut x = vec![1.0f32; 10 + 2 * rank];
        g.allreduce_sum(&mut x).unwrap_err()
    });
    // Each rank reads the other's header; a rank may instead see the other's shutdown if that
    // came first, but at least one names the mismatch.
    assert!(
        results
            .iter()
            .any(|e| matches!(e, Error::Protocol { detail, .. } if detail.contains("reduces"))),
        "{results:?}"
    );
    for e in &results {
        assert!(
            matches!(e, Error::Protocol { .. } | Error::PeerClosed { .. }),
            "{e}"
        );
    }
}

#[test]
fn different_operations_are_a_protocol_error() {
    let results = with_group(2, |rank, mut g| {
        if rank == 0 {
            g.barrier().unwrap_err()
        } else {
            g.allgather_bytes(b"x").unwrap_err()
        }
    });
    assert!(
        results.iter().any(|e| matches!(e, Error::Protocol { .. })),
        "{results:?}"
    );
}

#[test]
fn stray_connections_are_dropped_and_the_ring_still_forms() {
    let configs = configs(2, Duration::from_secs(10));
    let target = configs[0].addresses[0].clone();
    // A silent client, one that speaks another protocol, and one that hangs up at once: all
    // queued on rank 0's listener before the real peer.
    let silent = TcpStream::connect(&target).unwrap();
    let mut http = TcpStream::connect(&target).unwrap();
    http.write_all(&[b'G'; 64]).unwrap();
    drop(TcpStream::connect(&target).unwrap());
    let results = run(configs, |rank, g| {
        let mut g = g.unwrap();
        let mut x = vec![rank as f32 + 1.0; 5];
        g.allreduce_sum(&mut x).unwrap();
        x
    });
    assert_eq!(results, vec![vec![3.0; 5]; 2]);
    drop((silent, http));
}

#[test]
fn bind_errors_are_typed() {
    let (_held, address) = bind("127.0.0.1").unwrap();
    let port: u16 = address.rsplit(':').next().unwrap().parse().unwrap();
    match bind_port("127.0.0.1", port) {
        Err(Error::Bind { address: a, .. }) => assert_eq!(a, address),
        other => panic!("{other:?}"),
    }
    // TEST-NET-1: not an address of this machine.
    assert!(matches!(bind("192.0.2.1"), Err(Error::Bind { .. })));
    let (_, v6) = match bind("::1") {
        Ok(bound) => bound,
        Err(_) => return, // no IPv6 loopback here
    };
    assert!(v6.starts_with("[::1]:"), "{v6}");
}

#[test]
fn config_debug_redacts_the_secret() {
    let config = configs(1, Duration::from_secs(1)).pop().unwrap();
    let text = format!("{config:?}");
    assert!(
        text.contains("<redacted>") && !text.contains("per-job"),
        "{text}"
    );
    assert!(!text.contains(&format!("{:?}", SECRET)), "{text}");
}

#[test]
fn invalid_configurations_are_refused_before_connecting() {
    let fresh = || configs(2, Duration::from_secs(1)).remove(0);
    let mut short = fresh();
    short.secret.truncate(MIN_SECRET_LEN - 1);
    let mut rank = fresh();
    rank.rank = 2;
    let mut zero = fresh();
    zero.timeout = Duration::ZERO;
    let mut empty = fresh();
    empty.addresses.clear();
    for c in [short, rank, zero, empty] {
        assert!(matches!(Group::connect(c), Err(Error::Invalid { .. })));
    }
    // One address: a local group, no listener needed.
    let single = configs(1, Duration::from_secs(1)).pop().unwrap();
    assert_eq!(Group::connect(single).unwrap().world(), 1);
}

/// Loopback throughput of `allreduce_sum`; a measurement, not a check. Run with
/// `cargo test -p keel-train --release --test collective -- --ignored --nocapture throughput`.
#[test]
#[ignore = "a measurement: run by hand, in release"]
fn throughput() {
    for world in [2, 4] {
        for n in [1_000_000usize, 10_000_000] {
            let rounds = 5;
            let times = with_group(world, |rank, mut g| {
                let mut x: Vec<f32> = (0..n).map(|i| value(rank, i)).collect();
                g.allreduce_sum(&mut x).unwrap(); // warm-up
                g.barrier().unwrap();
                let start = Instant::now();
                for _ in 0..rounds {
                    g.allreduce_sum(&mut x).unwrap();
                }
                start.elapsed() / rounds
            });
            let t = times.into_iter().max().unwrap().as_secs_f64();
            let bytes = (n * 4) as f64;
            // Bus bandwidth: what each rank sends per second (2 (w−1)/w of the vector).
            let bus = bytes * 2.0 * (world - 1) as f64 / world as f64 / t;
            println!(
                "world {world}, {n} floats: {:.2} ms per allreduce, {:.2} GB/s algorithm, {:.2} GB/s bus",
                t * 1e3,
                bytes / t / 1e9,
                bus / 1e9
            );
        }
    }
}
