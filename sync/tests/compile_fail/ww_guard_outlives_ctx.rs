// A guard borrows its acquire context: it cannot outlive it.
use dmasync_sync::ww::{AcquireCtx, WaitDie, WwMutex};

fn main() {
    let m: WwMutex<u32, WaitDie> = WwMutex::new(0);
    let guard;
    {
        let ctx = AcquireCtx::<WaitDie>::new();
        guard = ctx.lock(&m).unwrap();
    }
    let _ = *guard;
}
