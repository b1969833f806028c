// A timeline cannot be built on an existing context: its fences would be forgeries of the
// context owner's.
use dmasync_sync::fence::Timeline;

fn main() {
    let holder = Timeline::new();
    let victim = holder.next_fence().fence();
    let twin = Timeline::with_context(victim.context());
    twin.next_fence().signal();
}
