// A callback may run after its creator's stack frame is gone (e.g. a leaked Box::pin),
// so it must own what it uses ('static).
use core::pin::pin;
use dmasync_sync::fence::{FenceCallback};
use dmasync_sync::FenceProducer;

fn main() {
    let p = FenceProducer::one_off();
    let mut hits = 0u32;
    let cb = pin!(FenceCallback::new(|_r| hits += 1));
    p.fence().add_callback(cb).unwrap();
    p.signal();
}
