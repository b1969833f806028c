//! The queues themselves: a slab of resources, a slab of requests, FIFO links, and the one
//! rule that decides grants.
//!
//! This layer knows nothing about waiting, callbacks or locking; [`super::KdsDomain`] holds it
//! under its lock. Everything here is deterministic, allocation happens only when a resource
//! or request is added, and no method panics on bad input: every misuse is a [`KdsError`].

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::mem;

use super::{KdsError, RequestId, Resource, Sharing};

/// One request's place in one resource's FIFO.
#[derive(Debug, Clone, Copy)]
struct Link {
    /// Index of the owning request in [`Queues::requests`].
    req: u32,
    exclusive: bool,
    /// Set once, when the link first satisfies the grant rule; never cleared.
    granted: bool,
}

#[derive(Debug)]
struct ResourceSlot {
    generation: u32,
    /// `None` while the slot is free.
    queue: Option<VecDeque<Link>>,
}

/// A live request: which resources it holds a link on and how many are still ungranted.
#[derive(Debug)]
pub(crate) struct Entry<X> {
    /// Resource indices, in the order the request named them.
    resources: Vec<u32>,
    /// Number of this request's links that are not granted yet. Decremented exactly once per
    /// link, on that link's ungranted -> granted transition (the KDS double-decrement fix).
    pending: usize,
    /// What the layer above keeps per request (callback, waiters).
    pub(crate) extra: X,
}

impl<X> Entry<X> {
    /// Links not granted yet.
    pub(crate) fn pending(&self) -> usize {
        self.pending
    }

    /// Every link granted: the request owns all its resources.
    pub(crate) fn is_granted(&self) -> bool {
        self.pending == 0
    }
}

#[derive(Debug)]
struct RequestSlot<X> {
    generation: u32,
    entry: Option<Entry<X>>,
    /// The resource list of the slot's previous request, kept for reuse so that a steady
    /// enqueue/release cycle does not allocate (and release never frees under the lock).
    spare: Vec<u32>,
}

/// Resource and request tables of one domain.
#[derive(Debug)]
pub(crate) struct Queues<X> {
    /// This domain's identity, stamped into every [`Resource`] it creates; 0 until the first
    /// resource is created (so that the domain can be built in a `const` context).
    domain: u64,
    max_resources: usize,
    resources: Vec<ResourceSlot>,
    free_resources: Vec<u32>,
    requests: Vec<RequestSlot<X>>,
    free_requests: Vec<u32>,
    live_requests: usize,
}

/// Source of domain identities. Only uniqueness matters (it orders nothing and publishes
/// nothing), so it is a plain core atomic even under loom, like the loom clock.
static NEXT_DOMAIN: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(1);

impl<X> Queues<X> {
    pub(crate) const fn new(max_resources: usize) -> Self {
        Self {
            domain: 0,
            max_resources,
            resources: Vec::new(),
            free_resources: Vec::new(),
            requests: Vec::new(),
            free_requests: Vec::new(),
            live_requests: 0,
        }
    }

    pub(crate) fn max_resources(&self) -> usize {
        self.max_resources
    }

    /// Requests currently queued or granted.
    pub(crate) fn live_requests(&self) -> usize {
        self.live_requests
    }

    fn domain_id(&mut self) -> u64 {
        if self.domain == 0 {
            self.domain = NEXT_DOMAIN.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        }
        self.domain
    }

    /// A new resource with an empty queue.
    pub(crate) fn new_resource(&mut self) -> Result<Resource, KdsError> {
        let domain = self.domain_id();
        if let Some(index) = self.free_resources.pop() {
            let slot = &mut self.resources[index as usize];
            slot.queue = Some(VecDeque::new());
            return Ok(Resource {
                domain,
                index,
                generation: slot.generation,
            });
        }
        let index = u32::try_from(self.resources.len()).map_err(|_| KdsError::Exhausted)?;
        self.resources.push(ResourceSlot {
            generation: 0,
            queue: Some(VecDeque::new()),
        });
        Ok(Resource {
            domain,
            index,
            generation: 0,
        })
    }

    /// Index of a live resource of this domain.
    fn resource_index(&self, r: Resource) -> Result<u32, KdsError> {
        if self.domain == 0 || r.domain != self.domain {
            return Err(KdsError::ForeignResource(r));
        }
        match self.resources.get(r.index as usize) {
            Some(slot) if slot.generation == r.generation && slot.queue.is_some() => Ok(r.index),
            _ => Err(KdsError::UnknownResource(r)),
        }
    }

    fn queue(&self, index: u32) -> &VecDeque<Link> {
        static EMPTY: VecDeque<Link> = VecDeque::new();
        // Callers pass indices of live resources (links only ever name live resources: a
        // resource with links cannot be removed); the fallback keeps this panic-free.
        match self.resources.get(index as usize).map(|s| &s.queue) {
            Some(Some(q)) => q,
            _ => &EMPTY,
        }
    }

    /// Removes a resource nobody is queued on.
    pub(crate) fn remove_resource(&mut self, r: Resource) -> Result<(), KdsError> {
        let index = self.resource_index(r)?;
        if !self.queue(index).is_empty() {
            return Err(KdsError::ResourceBusy(r));
        }
        let slot = &mut self.resources[index as usize];
        slot.queue = None;
        slot.generation = slot.generation.wrapping_add(1);
        self.free_resources.push(index);
        Ok(())
    }

    /// Number of links (owners and waiters) queued on `r`.
    pub(crate) fn queue_len(&self, r: Resource) -> Result<usize, KdsError> {
        Ok(self.queue(self.resource_index(r)?).len())
    }

    /// Checks a request without changing anything: not too many resources, each this
    /// domain's and live, none repeated — checked in that order. Fills `indices` with their
    /// indices in the request's order.
    fn validate(
        &self,
        list: &[(Resource, Sharing)],
        indices: &mut Vec<u32>,
    ) -> Result<(), KdsError> {
        if list.len() > self.max_resources {
            return Err(KdsError::TooManyResources {
                requested: list.len(),
                max: self.max_resources,
            });
        }
        indices.clear();
        for &(r, _) in list {
            indices.push(self.resource_index(r)?);
        }
        // Any repeat, not only adjacent ones (KDS checked the tail link only). Requests are
        // short, so pairwise beats sorting a copy; long ones (a raised limit) are sorted.
        let dup_index = if indices.len() <= 32 {
            indices
                .iter()
                .enumerate()
                .find(|&(i, x)| indices[i + 1..].contains(x))
                .map(|(_, &x)| x)
        } else {
            let mut sorted = indices.clone();
            sorted.sort_unstable();
            sorted.windows(2).find(|w| w[0] == w[1]).map(|w| w[0])
        };
        if let Some(x) = dup_index {
            let dup = list
                .iter()
                .map(|&(r, _)| r)
                .find(|r| r.index == x)
                .unwrap_or(list[0].0);
            return Err(KdsError::DuplicateResource(dup));
        }
        Ok(())
    }

    /// Whether a link appended now to `index`'s queue would be granted at once: the queue is
    /// empty, or the link is shared and the tail is a granted shared link (then everything
    /// ahead is granted and shared). A shared link never overtakes a queued exclusive.
    fn grantable_at_tail(&self, index: u32, access: Sharing) -> bool {
        match self.queue(index).back() {
            None => true,
            Some(tail) => access == Sharing::Shared && !tail.exclusive && tail.granted,
        }
    }

    /// Queues a request on all its resources at once (the caller holds the domain lock, so
    /// this is atomic with respect to every other request). With `only_if_granted`, nothing
    /// is queued unless every link would be granted at once (`Err(WouldBlock)`).
    ///
    /// On error the request's `extra` comes back, so the caller can drop it outside its lock.
    pub(crate) fn enqueue(
        &mut self,
        list: &[(Resource, Sharing)],
        only_if_granted: bool,
        extra: X,
    ) -> Result<RequestId, (KdsError, X)> {
        let slot_index = match self.free_requests.last() {
            Some(&i) => i,
            None => match u32::try_from(self.requests.len()) {
                Ok(i) => {
                    self.requests.push(RequestSlot {
                        generation: 0,
                        entry: None,
                        spare: Vec::new(),
                    });
                    self.free_requests.push(i);
                    i
                }
                Err(_) => return Err((KdsError::Exhausted, extra)),
            },
        };
        let mut indices = mem::take(&mut self.requests[slot_index as usize].spare);
        let checked = self.validate(list, &mut indices).and_then(|()| {
            if only_if_granted
                && !indices
                    .iter()
                    .zip(list)
                    .all(|(&i, &(_, a))| self.grantable_at_tail(i, a))
            {
                Err(KdsError::WouldBlock)
            } else {
                Ok(())
            }
        });
        if let Err(e) = checked {
            self.requests[slot_index as usize].spare = indices;
            return Err((e, extra));
        }
        self.free_requests.pop();
        let mut pending = 0;
        for (&index, &(_, access)) in indices.iter().zip(list) {
            let granted = self.grantable_at_tail(index, access);
            if !granted {
                pending += 1;
            }
            let link = Link {
                req: slot_index,
                exclusive: access == Sharing::Exclusive,
                granted,
            };
            if let Some(q) = &mut self.resources[index as usize].queue {
                q.push_back(link);
            }
        }
        let slot = &mut self.requests[slot_index as usize];
        slot.entry = Some(Entry {
            resources: indices,
            pending,
            extra,
        });
        self.live_requests += 1;
        Ok(RequestId {
            index: slot_index,
            generation: slot.generation,
        })
    }

    pub(crate) fn entry(&self, id: RequestId) -> Result<&Entry<X>, KdsError> {
        match self.requests.get(id.index as usize) {
            Some(RequestSlot {
                generation,
                entry: Some(e),
                ..
            }) if *generation == id.generation => Ok(e),
            _ => Err(KdsError::UnknownRequest(id)),
        }
    }

    pub(crate) fn entry_mut(&mut self, id: RequestId) -> Result<&mut Entry<X>, KdsError> {
        match self.requests.get_mut(id.index as usize) {
            Some(RequestSlot {
                generation,
                entry: Some(e),
                ..
            }) if *generation == id.generation => Ok(e),
            _ => Err(KdsError::UnknownRequest(id)),
        }
    }

    /// The id of the live request in slot `index`.
    fn id_of(&self, index: u32) -> RequestId {
        RequestId {
            index,
            generation: self.requests[index as usize].generation,
        }
    }

    /// Unlinks a request from every resource and grants whoever that unblocks.
    /// `on_granted` is called (under the caller's lock) once for each request whose last
    /// link was just granted. Returns the removed request's `extra`, for the caller to drop
    /// outside its lock; its resource list stays in the slot for reuse (nothing is freed).
    pub(crate) fn remove(
        &mut self,
        id: RequestId,
        mut on_granted: impl FnMut(RequestId, &mut Entry<X>),
    ) -> Result<X, KdsError> {
        self.entry(id)?;
        let slot = &mut self.requests[id.index as usize];
        let Some(entry) = slot.entry.take() else {
            return Err(KdsError::UnknownRequest(id));
        };
        slot.generation = slot.generation.wrapping_add(1);
        self.free_requests.push(id.index);
        self.live_requests -= 1;
        for &res in &entry.resources {
            let Some(q) = &mut self.resources[res as usize].queue else {
                continue;
            };
            if let Some(pos) = q.iter().position(|l| l.req == id.index) {
                q.remove(pos);
            }
            self.regrant(res, &mut on_granted);
        }
        self.requests[id.index as usize].spare = entry.resources;
        Ok(entry.extra)
    }

    /// Re-applies the grant rule to one queue: a link is granted iff it is at the head, or
    /// it is shared and every link ahead of it is shared. Removing links can only turn
    /// ungranted links into granted ones, and only those transitions touch `pending` — a link
    /// that was already granted (a shared owner behind a releasing shared owner) is left
    /// alone, which is exactly the check KDS-2013 lacked.
    fn regrant(&mut self, res: u32, on_granted: &mut impl FnMut(RequestId, &mut Entry<X>)) {
        let Some(q) = &mut self.resources[res as usize].queue else {
            return;
        };
        let mut all_shared_ahead = true;
        for (pos, link) in q.iter_mut().enumerate() {
            let should = pos == 0 || (all_shared_ahead && !link.exclusive);
            if !should {
                // Nothing behind a link that is not granted can be granted.
                break;
            }
            all_shared_ahead &= !link.exclusive;
            if link.granted {
                continue;
            }
            link.granted = true;
            let slot = &mut self.requests[link.req as usize];
            if let Some(entry) = &mut slot.entry {
                debug_assert!(entry.pending > 0, "pending underflow");
                entry.pending = entry.pending.saturating_sub(1);
                if entry.pending == 0 {
                    let id = RequestId {
                        index: link.req,
                        generation: slot.generation,
                    };
                    on_granted(id, entry);
                }
            }
        }
    }

    /// Snapshot of one queue for tests and debugging: (request, exclusive, granted) from head
    /// to tail.
    pub(crate) fn links(&self, r: Resource) -> Result<Vec<(RequestId, Sharing, bool)>, KdsError> {
        let index = self.resource_index(r)?;
        Ok(self
            .queue(index)
            .iter()
            .map(|l| {
                let access = if l.exclusive {
                    Sharing::Exclusive
                } else {
                    Sharing::Shared
                };
                (self.id_of(l.req), access, l.granted)
            })
            .collect())
    }
}
