// The context cannot move while a guard borrows it (the guard unlocks through it). Its owner
// record is on the heap, so a move after a guard was leaked is harmless (soundness_ww.rs).
use dmasync_sync::ww::{AcquireCtx, WaitDie, WwMutex};

fn main() {
    let m: WwMutex<u32, WaitDie> = WwMutex::new(0);
    let ctx = AcquireCtx::<WaitDie>::new();
    let g = ctx.lock(&m).unwrap();
    let moved = ctx;
    drop(g);
    drop(moved);
}
