// One timeline value per context: a clone would hand its seqno order to two owners.
use dmasync_sync::fence::Timeline;

fn main() {
    let holder = Timeline::new();
    let twin = holder.clone();
    twin.next_fence().signal();
}
