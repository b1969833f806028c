// A reserved slot is only valid while the reservation object stays locked.
use dmasync::platform::StdPlatform;
use dmasync::resv::{ReservationObject, Usage};
use dmasync::fence::Timeline;

fn main() {
    let resv: ReservationObject<StdPlatform> = ReservationObject::new();
    let slot = {
        let guard = resv.lock();
        guard.reserve_one().unwrap()
    };
    let t = Timeline::<StdPlatform>::new();
    slot.add(&t.next_fence().fence(), Usage::Write);
}
