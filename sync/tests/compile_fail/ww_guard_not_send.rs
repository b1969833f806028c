// A guard taken through a context cannot move to another thread (it would unlock there
// and update the context from two threads).
use dmasync_sync::ww::{AcquireCtx, WaitDie, WwMutex};

static M: WwMutex<u32, WaitDie> = WwMutex::new(0);

fn main() {
    let ctx = AcquireCtx::<WaitDie>::new();
    let g = ctx.lock(&M).unwrap();
    std::thread::scope(|s| {
        s.spawn(move || drop(g));
    });
}
