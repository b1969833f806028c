// The data of a shared mutex is reachable only through a guard.
use dmasync_sync::ww::{WaitDie, WwMutex};

fn main() {
    let m: WwMutex<u32, WaitDie> = WwMutex::new(0);
    let r = &m;
    let _x: u32 = *r;
}
