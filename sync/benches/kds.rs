//! Uncontended enqueue + grant + release of one KDS request over 1, 4 and 16 resources,
//! against a baseline measured in the same run: the same N per-resource owner counters
//! taken and dropped under one plain mutex (what a hand-rolled "lock all my buffers" does,
//! with no queue, no FIFO and no completion).
//!
//! `cargo bench -p dmasync-sync --bench kds`; figures go to doc/benchmarks.md as ratios.

use std::hint::black_box;
use std::sync::Mutex;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use dmasync_sync::kds::{Completion, KdsDomain, Resource, Sharing};

/// The baseline: per-resource owner counts (-1 = exclusive) behind one mutex.
struct CounterTable(Mutex<Vec<isize>>);

impl CounterTable {
    fn acquire(&self, list: &[(usize, Sharing)]) -> bool {
        let mut t = self.0.lock().unwrap();
        let free = list.iter().all(|&(i, a)| match a {
            Sharing::Shared => t[i] >= 0,
            Sharing::Exclusive => t[i] == 0,
        });
        if free {
            for &(i, a) in list {
                t[i] = match a {
                    Sharing::Shared => t[i] + 1,
                    Sharing::Exclusive => -1,
                };
            }
        }
        free
    }

    fn release(&self, list: &[(usize, Sharing)]) {
        let mut t = self.0.lock().unwrap();
        for &(i, a) in list {
            t[i] = match a {
                Sharing::Shared => t[i] - 1,
                Sharing::Exclusive => 0,
            };
        }
    }
}

fn access(i: usize) -> Sharing {
    // Half shared, half exclusive, like a render job reading textures and writing targets.
    if i.is_multiple_of(2) {
        Sharing::Shared
    } else {
        Sharing::Exclusive
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("kds_uncontended");
    for n in [1usize, 4, 16] {
        let d = KdsDomain::with_max_resources(16);
        let list: Vec<(Resource, Sharing)> = (0..n)
            .map(|i| (d.new_resource().unwrap(), access(i)))
            .collect();
        g.bench_function(format!("kds_enqueue_release/{n}"), |b| {
            b.iter(|| {
                let req = d.enqueue(black_box(&list), Completion::None).unwrap();
                debug_assert!(req.is_granted());
                req.release().unwrap();
            })
        });

        let table = CounterTable(Mutex::new(vec![0; n]));
        let idx: Vec<(usize, Sharing)> = (0..n).map(|i| (i, access(i))).collect();
        g.bench_function(format!("mutex_counters/{n}"), |b| {
            b.iter(|| {
                assert!(table.acquire(black_box(&idx)));
                table.release(black_box(&idx));
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(50);
    targets = bench
}
criterion_main!(benches);
