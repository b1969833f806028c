// Signalling consumes the producer: a fence cannot be signalled twice.
use dmasync_sync::FenceProducer;

fn main() {
    let p = FenceProducer::one_off();
    p.signal();
    p.signal();
}
