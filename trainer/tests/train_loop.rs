//! The training loop across workers: two workers over loopback TCP give the very bits one
//! worker gives in deterministic mode (and nearly them otherwise), a run resumed from a
//! checkpoint ends where the uninterrupted run ends, and a diverging run names its step.

// The workers run on helper threads outside the test functions; a failure there is a failed
// test all the same.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keel_train::collective::{self, Group, GroupConfig};
use keel_train::data::Dataset;
use keel_train::loss::Loss;
use keel_train::net::{Activation, Net, NetSpec, Task};
use keel_train::optim::{OptimizerConfig, OptimizerKind};
use keel_train::train::{self, Checkpoint, EpochMetrics, Observer, Shard, Silent, TrainConfig};
use std::time::Duration;

/// A seeded two-class problem: two numeric features and one categorical column whose
/// category shifts the class.
fn data(rows: usize, seed: u64) -> Dataset {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) as f64 / (1u64 << 31) as f64) as f32
    };
    let mut d = Dataset::new(2, 1);
    for _ in 0..rows {
        let (a, b) = (next() * 2.0 - 1.0, next() * 2.0 - 1.0);
        let c = (next() * 3.0) as i64 % 3;
        let score = 2.0 * a - b + [0.8, 0.0, -0.8][c as usize] + 0.3 * (next() - 0.5);
        d.numeric.extend([a, b]);
        d.categorical.push(c);
        d.labels.push(f32::from(u8::from(score > 0.0)));
    }
    d
}

fn spec() -> NetSpec {
    NetSpec {
        numeric_width: 2,
        cardinalities: vec![3],
        embedding_dim: 2,
        hidden: vec![8],
        activation: Activation::Tanh,
        layer_norm: true,
        dropout: 0.1,
        outputs: 2,
        task: Task::Classification,
    }
}

fn config(deterministic: bool, epochs: usize) -> TrainConfig {
    TrainConfig {
        loss: Loss::CrossEntropy,
        optimizer: OptimizerConfig {
            kind: OptimizerKind::Adam {
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
            },
            weight_decay: 0.0,
            clip_grad_norm: Some(5.0),
        },
        learning_rate: 0.02,
        batch_size: 64,
        epochs,
        seed: 3,
        shards: 4,
        deterministic,
        threads: 2,
        ..TrainConfig::default()
    }
}

/// The shards of worker `rank` of `world`: shard `s` holds rows `i` with `i % 4 == s`, and
/// belongs to worker `s % world`, or to worker 0 alone when `world` is 2 and `lopsided`.
fn shards_of(d: &Dataset, rank: usize, world: usize, lopsided: bool) -> Vec<Shard> {
    Shard::split(d, 4, 0, 1)
        .into_iter()
        .filter(|s| {
            if lopsided {
                rank == 0
            } else {
                s.id % world == rank
            }
        })
        .collect()
}

/// Trains with `world` workers on threads of this process, each with its own `Group` over
/// loopback; returns every worker's final parameters.
fn run(world: usize, cfg: &TrainConfig, train_rows: &Dataset, valid: &Dataset) -> Vec<Vec<f32>> {
    run_with(world, cfg, train_rows, valid, false)
}

fn run_with(
    world: usize,
    cfg: &TrainConfig,
    train_rows: &Dataset,
    valid: &Dataset,
    lopsided: bool,
) -> Vec<Vec<f32>> {
    let bound: Vec<_> = (0..world)
        .map(|_| collective::bind("127.0.0.1").unwrap())
        .collect();
    let addresses: Vec<String> = bound.iter().map(|(_, a)| a.clone()).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = bound
            .into_iter()
            .enumerate()
            .map(|(rank, (listener, _))| {
                let addresses = addresses.clone();
                scope.spawn(move || {
                    let mut group = if world == 1 {
                        Group::local()
                    } else {
                        Group::connect(GroupConfig::new(
                            rank,
                            addresses,
                            listener,
                            vec![7; 32],
                            "job",
                            Duration::from_secs(20),
                        ))
                        .unwrap()
                    };
                    let mut net = Net::init(spec(), 11).unwrap();
                    let shards = shards_of(train_rows, rank, world, lopsided);
                    let validation = shards_of(valid, rank, world, lopsided);
                    let trained = train::fit(
                        &mut net,
                        &shards,
                        &validation,
                        cfg,
                        &mut group,
                        None,
                        &mut Silent,
                    )
                    .unwrap();
                    trained.params
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn two_workers_give_one_workers_bits_in_deterministic_mode() {
    let (t, v) = (data(900, 1), data(200, 2));
    let one = run(1, &config(true, 3), &t, &v);
    let two = run(2, &config(true, 3), &t, &v);
    assert_eq!(bits(&two[0]), bits(&two[1]), "workers disagree");
    assert_eq!(bits(&one[0]), bits(&two[0]), "2 workers differ from 1");
    let mut one_thread = config(true, 3);
    one_thread.threads = 1;
    assert_eq!(bits(&run(1, &one_thread, &t, &v)[0]), bits(&one[0]));
}

#[test]
fn ring_allreduce_mode_agrees_across_workers_and_nearly_with_one() {
    let (t, v) = (data(900, 1), data(200, 2));
    let one = run(1, &config(false, 3), &t, &v);
    let two = run(2, &config(false, 3), &t, &v);
    assert_eq!(bits(&two[0]), bits(&two[1]), "workers disagree");
    // The same rows and steps; only the order of the gradient sums differs (f32 rounding).
    let diff = one[0]
        .iter()
        .zip(&two[0])
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(diff < 1e-3, "largest difference {diff}");
}

#[test]
fn a_worker_with_no_rows_takes_part_and_changes_nothing() {
    let (t, v) = (data(500, 6), data(100, 7));
    let one = run(1, &config(true, 2), &t, &v);
    let two = run_with(2, &config(true, 2), &t, &v, true);
    assert_eq!(bits(&two[1]), bits(&two[0]));
    assert_eq!(bits(&one[0]), bits(&two[0]));
}

/// Records checkpoints and epochs.
#[derive(Default)]
struct Record {
    checkpoints: Vec<Checkpoint>,
    epochs: Vec<EpochMetrics>,
}

impl Observer for Record {
    fn epoch(&mut self, m: &EpochMetrics) {
        self.epochs.push(m.clone());
    }
    fn checkpoint(&mut self, c: &Checkpoint) {
        self.checkpoints.push(c.clone());
    }
}

#[test]
fn a_run_resumed_from_a_mid_epoch_checkpoint_ends_where_the_whole_run_ends() {
    let (t, v) = (data(600, 3), data(100, 4));
    let shards = Shard::split(&t, 4, 0, 1);
    let validation = Shard::split(&v, 4, 0, 1);
    let mut cfg = config(true, 3);
    cfg.checkpoint_interval = 5;
    let mut whole = Record::default();
    let mut net = Net::init(spec(), 11).unwrap();
    let full = train::fit(
        &mut net,
        &shards,
        &validation,
        &cfg,
        &mut Group::local(),
        None,
        &mut whole,
    )
    .unwrap();
    let mid = whole
        .checkpoints
        .iter()
        .find(|c| c.epoch == 1 && c.step_in_epoch > 0)
        .expect("a checkpoint inside the second epoch")
        .clone();
    // Through JSON, as checkpoints travel to the driver and back.
    let mid: Checkpoint = serde_json::from_slice(&serde_json::to_vec(&mid).unwrap()).unwrap();
    let mut net = Net::init(spec(), 99).unwrap();
    let resumed = train::fit(
        &mut net,
        &shards,
        &validation,
        &cfg,
        &mut Group::local(),
        Some(mid),
        &mut Silent,
    )
    .unwrap();
    assert_eq!(bits(&resumed.params), bits(&full.params));
    // The same figures, apart from the timings.
    let untimed = |h: &[EpochMetrics]| {
        h.iter()
            .map(|m| EpochMetrics {
                rows_per_second: 0.0,
                ..m.clone()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(untimed(&resumed.history), untimed(&full.history));
    assert!(whole.epochs[2].validation_loss < whole.epochs[0].validation_loss);
}

#[test]
fn a_diverging_run_names_its_step() {
    let t = data(300, 5);
    let mut cfg = config(false, 2);
    cfg.optimizer = OptimizerConfig {
        kind: OptimizerKind::Sgd {
            momentum: 0.0,
            dampening: 0.0,
            nesterov: false,
        },
        weight_decay: 0.0,
        clip_grad_norm: None,
    };
    cfg.learning_rate = 1e30;
    let mut net = Net::init(spec(), 1).unwrap();
    let err = train::fit(
        &mut net,
        &Shard::split(&t, 4, 0, 1),
        &[],
        &cfg,
        &mut Group::local(),
        None,
        &mut Silent,
    )
    .unwrap_err();
    assert!(
        matches!(err, train::Error::Diverged { step, .. } if step >= 1),
        "{err}"
    );
    assert!(err.to_string().contains("step"));
}

#[test]
fn no_rows_anywhere_is_refused() {
    let mut net = Net::init(spec(), 1).unwrap();
    let err = train::fit(
        &mut net,
        &[],
        &[],
        &config(false, 1),
        &mut Group::local(),
        None,
        &mut Silent,
    )
    .unwrap_err();
    assert!(matches!(err, train::Error::NoData), "{err}");
}
