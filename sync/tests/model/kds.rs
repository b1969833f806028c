//! Random sequences of valid and invalid KDS operations against a reference model that
//! recomputes every grant from scratch. The model and its harness are shared by the proptest
//! `tests/kds_model.rs` and the cargo-fuzz target `fuzz/fuzz_targets/kds_ops.rs` (both
//! include this file as a module; each generates `Op` sequences its own way and calls
//! [`run`]).
//!
//!
//! The model is the rule in its plainest form — a link is granted iff it is at the head of
//! its queue, or it is shared and every link ahead of it is shared; a request's pending
//! count is the number of its links that are not granted — so any drift of the incremental
//! implementation (KDS's double decrement, a missed grant after cancelling a queued
//! exclusive, a callback fired twice or early) shows up as a mismatch. Invalid operations
//! (release before grant, stale or foreign resources, repeats, too many resources, removing a
//! busy resource, stale request ids) must each return the predicted `Err` and change nothing.
//! Double release and use after cancel do not compile (see the `compile_fail` doctests in
//! `dmasync_sync::kds`), so the only way to name a gone request here is a stale `RequestId`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use dmasync_sync::kds::{
    CancelOutcome, Completion, KdsDomain, KdsError, Request, RequestId, Resource, Sharing,
};
use proptest::prelude::*;

pub const MAX: usize = 4;

#[derive(Debug, Clone)]
pub enum Op {
    NewResource,
    RemoveResource(usize),
    Enqueue {
        picks: Vec<(usize, bool)>,
        foreign_at: Option<usize>,
        completion: u8,
        try_only: bool,
    },
    Release(usize),
    Cancel(usize),
    TryCancel(usize),
    Drop(usize),
    RunWork,
    Wait0(usize),
    StaleQuery(usize),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Cb {
    None,
    Direct,
    Deferred,
}

struct ModelReq {
    links: Vec<(usize, Sharing)>,
    cb: Cb,
}

struct ModelRes {
    handle: Resource,
    live: bool,
    /// (model request id, access), head first.
    queue: Vec<(usize, Sharing)>,
}

#[derive(Default)]
struct Model {
    res: Vec<ModelRes>,
    reqs: Vec<Option<ModelReq>>,
    /// Expected callback runs per request id.
    fired: Vec<usize>,
    /// Deferred callbacks granted but not run, in grant order.
    work: Vec<usize>,
}

impl Model {
    fn link_granted(&self, r: usize, pos: usize) -> bool {
        let q = &self.res[r].queue;
        pos == 0 || (q[pos].1 == Sharing::Shared && q[..pos].iter().all(|l| l.1 == Sharing::Shared))
    }

    fn pending(&self, id: usize) -> usize {
        let req = self.reqs[id].as_ref().unwrap();
        req.links
            .iter()
            .filter(|&&(r, _)| {
                let pos = self.res[r].queue.iter().position(|l| l.0 == id).unwrap();
                !self.link_granted(r, pos)
            })
            .count()
    }

    fn granted(&self, id: usize) -> bool {
        self.pending(id) == 0
    }

    fn live(&self) -> Vec<usize> {
        (0..self.reqs.len())
            .filter(|&i| self.reqs[i].is_some())
            .collect()
    }

    /// Fires completions of requests that became granted (call with the set granted before).
    fn fire_new_grants(&mut self, before: &[usize]) {
        for id in self.live() {
            if self.granted(id) && !before.contains(&id) {
                match self.reqs[id].as_ref().unwrap().cb {
                    Cb::None => {}
                    Cb::Direct => self.fired[id] += 1,
                    Cb::Deferred => self.work.push(id),
                }
            }
        }
    }

    fn granted_set(&self) -> Vec<usize> {
        self.live()
            .into_iter()
            .filter(|&i| self.granted(i))
            .collect()
    }

    /// Removes request `id` everywhere; returns whether it was granted.
    fn remove(&mut self, id: usize) -> bool {
        let was = self.granted(id);
        let before = self.granted_set();
        let req = self.reqs[id].take().unwrap();
        for (r, _) in req.links {
            self.res[r].queue.retain(|l| l.0 != id);
        }
        self.work.retain(|&w| w != id);
        self.fire_new_grants(&before);
        was
    }
}

struct Harness<'d> {
    d: &'d KdsDomain,
    foreign: Resource,
    m: Model,
    real: Vec<Option<Request<'d>>>,
    ids: Vec<RequestId>,
    fired: Arc<Mutex<Vec<usize>>>,
}

impl<'d> Harness<'d> {
    fn pick_live(&self, k: usize) -> Option<usize> {
        let live = self.m.live();
        (!live.is_empty()).then(|| live[k % live.len()])
    }

    fn step(&mut self, op: Op) -> Result<(), TestCaseError> {
        match op {
            Op::NewResource => {
                let handle = self.d.new_resource().unwrap();
                self.m.res.push(ModelRes {
                    handle,
                    live: true,
                    queue: Vec::new(),
                });
            }
            Op::RemoveResource(k) => {
                if self.m.res.is_empty() {
                    return Ok(());
                }
                let i = k % self.m.res.len();
                let r = &mut self.m.res[i];
                let expect = if !r.live {
                    Err(KdsError::UnknownResource(r.handle))
                } else if !r.queue.is_empty() {
                    Err(KdsError::ResourceBusy(r.handle))
                } else {
                    r.live = false;
                    Ok(())
                };
                prop_assert_eq!(self.d.remove_resource(r.handle), expect);
            }
            Op::Enqueue {
                picks,
                foreign_at,
                completion,
                try_only,
            } => {
                let mut list: Vec<(Resource, Sharing)> = Vec::new();
                let mut model_links = Vec::new();
                if !self.m.res.is_empty() {
                    for (k, shared) in picks {
                        let i = k % self.m.res.len();
                        let a = if shared {
                            Sharing::Shared
                        } else {
                            Sharing::Exclusive
                        };
                        list.push((self.m.res[i].handle, a));
                        model_links.push((i, a));
                    }
                }
                let foreign_pos = foreign_at.filter(|&p| p < list.len());
                if let Some(p) = foreign_pos {
                    list[p].0 = self.foreign;
                }
                // Predicted refusal, in the domain's documented check order.
                let mut expect: Option<KdsError> = None;
                if list.len() > MAX {
                    expect = Some(KdsError::TooManyResources {
                        requested: list.len(),
                        max: MAX,
                    });
                }
                if expect.is_none() {
                    for (pos, &(i, _)) in model_links.iter().enumerate() {
                        if Some(pos) == foreign_pos {
                            expect = Some(KdsError::ForeignResource(self.foreign));
                            break;
                        }
                        if !self.m.res[i].live {
                            expect = Some(KdsError::UnknownResource(self.m.res[i].handle));
                            break;
                        }
                    }
                }
                let mut dup = false;
                for a in 0..model_links.len() {
                    for b in a + 1..model_links.len() {
                        dup |= model_links[a].0 == model_links[b].0;
                    }
                }
                if expect.is_none() && try_only {
                    let all_free = !dup
                        && model_links.iter().all(|&(i, a)| {
                            let q = &self.m.res[i].queue;
                            q.is_empty()
                                || (a == Sharing::Shared
                                    && q.iter().all(|l| l.1 == Sharing::Shared))
                        });
                    if !all_free && !dup {
                        expect = Some(KdsError::WouldBlock);
                    }
                }
                let id = self.m.reqs.len();
                let cb = match (try_only, completion) {
                    (true, _) | (_, 0) => Cb::None,
                    (_, 1) => Cb::Direct,
                    _ => Cb::Deferred,
                };
                let fired = self.fired.clone();
                let bump = move |_| fired.lock().unwrap()[id] += 1;
                let completion = match cb {
                    Cb::None => Completion::None,
                    Cb::Direct => Completion::direct(bump),
                    Cb::Deferred => Completion::deferred(bump),
                };
                // The callback may run inside `enqueue` (granted at once): slot first.
                self.fired.lock().unwrap().push(0);
                let got = if try_only {
                    self.d.try_acquire(&list)
                } else {
                    self.d.enqueue(&list, completion)
                };
                match got {
                    Err(e) => {
                        self.fired.lock().unwrap().pop();
                        match expect {
                            Some(x) => prop_assert_eq!(e, x),
                            None => {
                                prop_assert!(dup, "unexpected refusal {:?}", e);
                                let KdsError::DuplicateResource(r) = e else {
                                    return Err(TestCaseError::fail(format!("{e:?}")));
                                };
                                let n = list.iter().filter(|l| l.0 == r).count();
                                prop_assert!(n >= 2, "{:?} is not repeated", r);
                            }
                        }
                        // Nothing was queued: the per-op invariant check below proves it.
                    }
                    Ok(req) => {
                        prop_assert!(expect.is_none() && !dup, "accepted, expected {:?}", expect);
                        let before = self.m.granted_set();
                        for &(i, a) in &model_links {
                            self.m.res[i].queue.push((id, a));
                        }
                        self.m.reqs.push(Some(ModelReq {
                            links: model_links,
                            cb,
                        }));
                        self.m.fired.push(0);
                        self.ids.push(req.id());
                        self.real.push(Some(req));
                        self.m.fire_new_grants(&before);
                        if try_only {
                            prop_assert!(self.m.granted(id));
                        }
                    }
                }
            }
            Op::Release(k) => {
                let Some(id) = self.pick_live(k) else {
                    return Ok(());
                };
                let req = self.real[id].take().unwrap();
                if self.m.granted(id) {
                    prop_assert!(req.release().is_ok());
                    self.m.remove(id);
                } else {
                    let rej = req.release().unwrap_err();
                    prop_assert_eq!(rej.error, KdsError::NotGranted);
                    self.real[id] = Some(rej.handle);
                }
            }
            Op::Cancel(k) | Op::TryCancel(k) | Op::Drop(k) => {
                let Some(id) = self.pick_live(k) else {
                    return Ok(());
                };
                let req = self.real[id].take().unwrap();
                let expect = if self.m.granted(id) {
                    CancelOutcome::Released {
                        callback_ran: self.m.fired[id] == 1,
                    }
                } else {
                    CancelOutcome::Dequeued
                };
                let got = match op {
                    Op::Cancel(_) => Some(req.cancel()),
                    Op::TryCancel(_) => Some(req.try_cancel().unwrap()),
                    _ => {
                        drop(req);
                        None
                    }
                };
                if let Some(got) = got {
                    prop_assert_eq!(got, expect);
                }
                self.m.remove(id);
            }
            Op::RunWork => {
                let expect = self.m.work.len();
                for id in std::mem::take(&mut self.m.work) {
                    self.m.fired[id] += 1;
                }
                prop_assert_eq!(self.d.work_queue().run_pending(), expect);
            }
            Op::Wait0(k) => {
                let Some(id) = self.pick_live(k) else {
                    return Ok(());
                };
                let got = self.real[id].as_mut().unwrap().wait(Some(Duration::ZERO));
                let expect = if self.m.granted(id) {
                    Ok(())
                } else {
                    Err(KdsError::Timeout)
                };
                prop_assert_eq!(got, expect);
            }
            Op::StaleQuery(k) => {
                let dead: Vec<usize> = (0..self.m.reqs.len())
                    .filter(|&i| self.m.reqs[i].is_none())
                    .collect();
                if dead.is_empty() {
                    return Ok(());
                }
                let id = self.ids[dead[k % dead.len()]];
                prop_assert_eq!(self.d.is_granted(id), Err(KdsError::UnknownRequest(id)));
                prop_assert_eq!(self.d.pending(id), Err(KdsError::UnknownRequest(id)));
            }
        }
        self.check()
    }

    /// Every observable of the implementation equals the model.
    fn check(&self) -> Result<(), TestCaseError> {
        let live = self.m.live();
        prop_assert_eq!(self.d.live_requests(), live.len());
        for &id in &live {
            let req = self.real[id].as_ref().unwrap();
            prop_assert_eq!(
                req.pending(),
                self.m.pending(id),
                "pending of request {}",
                id
            );
            prop_assert_eq!(req.is_granted(), self.m.granted(id));
        }
        for (i, r) in self.m.res.iter().enumerate() {
            if !r.live {
                prop_assert_eq!(
                    self.d.queue_len(r.handle),
                    Err(KdsError::UnknownResource(r.handle))
                );
                continue;
            }
            let expect: Vec<(RequestId, Sharing, bool)> = r
                .queue
                .iter()
                .enumerate()
                .map(|(pos, &(id, a))| (self.ids[id], a, self.m.link_granted(i, pos)))
                .collect();
            prop_assert_eq!(
                self.d.queue(r.handle).unwrap(),
                expect,
                "queue of resource {}",
                i
            );
        }
        prop_assert_eq!(&*self.fired.lock().unwrap(), &self.m.fired, "callback runs");
        prop_assert_eq!(self.d.work_queue().len(), self.m.work.len());
        Ok(())
    }
}

/// Runs `ops` against the model on a fresh domain with four resources, checking after every
/// step; then releases everything and checks that every queue is empty.
pub fn run(ops: &[Op]) -> Result<(), TestCaseError> {
    let d = KdsDomain::with_max_resources(MAX);
    let other = KdsDomain::new();
    let mut h = Harness {
        d: &d,
        foreign: other.new_resource().unwrap(),
        m: Model::default(),
        real: Vec::new(),
        ids: Vec::new(),
        fired: Arc::default(),
    };
    for _ in 0..4 {
        h.step(Op::NewResource)?;
    }
    for op in ops.iter().cloned() {
        h.step(op)?;
    }
    // Tear down: releasing everything leaves every queue empty.
    for id in h.m.live() {
        drop(h.real[id].take());
        h.m.remove(id);
        h.check()?;
    }
    for r in &h.m.res {
        if r.live {
            prop_assert_eq!(d.queue_len(r.handle), Ok(0));
        }
    }
    Ok(())
}
