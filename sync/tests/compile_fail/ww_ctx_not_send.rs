// An acquire context belongs to the thread running the transaction.
use dmasync::platform::StdPlatform;
use dmasync::ww::{AcquireCtx, WaitDie};

fn main() {
    let ctx = AcquireCtx::<WaitDie, StdPlatform>::new();
    std::thread::spawn(move || {
        let _ = ctx.stamp();
    });
}
