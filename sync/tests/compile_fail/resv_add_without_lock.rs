// Fences are added only through a slot reserved under the lock; the object itself has
// no way to add one.
use dmasync_sync::resv::{ReservationObject, Usage};
use dmasync_sync::fence::Timeline;

fn main() {
    let resv: ReservationObject = ReservationObject::new();
    let t = Timeline::new();
    resv.add(&t.next_fence().fence(), Usage::Write);
}
