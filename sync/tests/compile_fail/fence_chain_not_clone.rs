// A fence chain is the capability to append points on its contexts: it cannot be cloned,
// so no second owner can branch the timeline (two nodes on one context where the later does
// not imply the earlier).
use dmasync_sync::fence::FenceChain;

fn main() {
    let chain = FenceChain::new();
    let _other = chain.clone();
}
