// A reserved slot is only valid while the reservation object stays locked.
use dmasync_sync::resv::{ReservationObject, Usage};
use dmasync_sync::fence::Timeline;

fn main() {
    let resv: ReservationObject = ReservationObject::new();
    let slot = {
        let guard = resv.lock();
        guard.reserve_one().unwrap()
    };
    let t = Timeline::new();
    slot.add(&t.next_fence().fence(), Usage::Write);
}
