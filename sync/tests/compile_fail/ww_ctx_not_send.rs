// An acquire context belongs to the thread running the transaction.
use dmasync_sync::ww::{AcquireCtx, WaitDie};

fn main() {
    let ctx = AcquireCtx::<WaitDie>::new();
    std::thread::spawn(move || {
        let _ = ctx.stamp();
    });
}
