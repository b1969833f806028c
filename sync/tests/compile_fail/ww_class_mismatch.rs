// A context of one class cannot lock a mutex of another class.
use dmasync_sync::ww::{AcquireCtx, WaitDie, WoundWait, WwMutex};

fn main() {
    let m: WwMutex<u32, WaitDie> = WwMutex::new(0);
    let ctx = AcquireCtx::<WoundWait>::new();
    let _g = ctx.lock(&m);
}
