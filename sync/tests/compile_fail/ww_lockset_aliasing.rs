// Two data references out of one LockSet at once would alias: the borrow checker refuses.
use dmasync_sync::ww::{AcquireCtx, LockSet, WaitDie, WwMutex};

fn main() {
    let a: WwMutex<u32, WaitDie> = WwMutex::new(0);
    let b: WwMutex<u32, WaitDie> = WwMutex::new(0);
    let ctx = AcquireCtx::<WaitDie>::new();
    let mut set = LockSet::new(&ctx);
    let ra = set.lock(&a).unwrap();
    let rb = set.lock(&b).unwrap();
    *ra += *rb;
}
