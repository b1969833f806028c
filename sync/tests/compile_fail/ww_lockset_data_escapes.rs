// Data obtained from a LockSet cannot be used after the set (and its locks) is gone.
use dmasync_sync::ww::{AcquireCtx, LockSet, WaitDie, WwError, WwMutex};

fn main() {
    let m: WwMutex<u32, WaitDie> = WwMutex::new(0);
    let ctx = AcquireCtx::<WaitDie>::new();
    let mut set = LockSet::new(&ctx);
    set.lock_all(|s| {
        s.lock(&m)?;
        Ok::<_, WwError>(())
    })
    .unwrap();
    let r: &mut u32 = set.iter_mut().next().unwrap();
    drop(set);
    *r = 1;
}
