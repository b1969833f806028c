// The context cannot move (its address is the owner tag in the mutexes it holds) while a
// guard borrows it.
use dmasync_sync::ww::{AcquireCtx, WaitDie, WwMutex};

fn main() {
    let m: WwMutex<u32, WaitDie> = WwMutex::new(0);
    let ctx = AcquireCtx::<WaitDie>::new();
    let g = ctx.lock(&m).unwrap();
    let moved = ctx;
    drop(g);
    drop(moved);
}
