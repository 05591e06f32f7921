//! The inserts in progress, so that concurrent inserts see each other. Ids here are slots.
//!
//! Two inserts running at the same time cannot find each other by searching the graph: neither
//! is reachable before its build phase ends. Sequentially, the later of two close vectors (say
//! two copies of one text) links to the earlier; concurrently, both link only to older nodes,
//! and when those nodes' full lists keep just one of the pair, the other is unreachable. So
//! each insert registers here, and on every level also considers each peer whose lists are
//! built and which it cannot have found by its searches (still in progress, or published after
//! its searches began). "Considered and marked built" is checked atomically: of two concurrent
//! inserts, the one marked built second has seen the other.
//!
//! A back-link to a peer still in progress is not written into its lists (only its inserter
//! writes them until it is done, and waiting for its lock could deadlock); it is left in the
//! peer's inbox, which the peer drains into its own lists before it finishes.

use parking_lot::Mutex;

/// A back-link left for an insert in progress: add `id` (at distance `d`) to the list at
/// `level`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BackLink {
    pub(crate) level: usize,
    pub(crate) id: u32,
    pub(crate) d: f32,
}

#[derive(Debug)]
struct Entry {
    id: u32,
    /// Sequence number when its level-0 search began.
    search_from: Option<u64>,
    built: bool,
    /// The registry's built version right after this entry was marked built.
    built_at: u64,
    /// Sequence number when it stopped taking back-links (its inbox is closed).
    done: Option<u64>,
    inbox: Vec<BackLink>,
    /// Back-links it left in other inboxes that are not written yet.
    pending: usize,
    /// Sequence number when it was done and all its back-links were written: from then on a
    /// search can reach it through the graph.
    published: Option<u64>,
}

#[derive(Debug, Default)]
struct Registry {
    seq: u64,
    /// Bumped whenever an entry is marked built.
    built_version: u64,
    entries: Vec<Entry>,
}

/// See the module docs. Every method holds the registry mutex briefly and waits for nothing
/// else (the closure of [`InFlight::mark_built_with`] only writes the caller's own lists), so
/// it may be called while holding node locks.
///
/// Boxed: the index struct stays small (weft-db keeps it in an enum next to the flat index).
#[derive(Debug, Default)]
pub(crate) struct InFlight(Box<Mutex<Registry>>);

impl Registry {
    /// Built peers of `id` marked after `version` that its searches may have missed: still in
    /// progress, or published after its search began.
    fn peers(&self, id: u32, version: u64) -> Vec<u32> {
        let from = self
            .entries
            .iter()
            .find(|e| e.id == id)
            .and_then(|e| e.search_from)
            .unwrap_or(0);
        self.entries
            .iter()
            .filter(|e| e.id != id && e.built && e.built_at > version)
            .filter(|e| e.published.is_none_or(|p| p > from))
            .map(|e| e.id)
            .collect()
    }

    fn mark_built(&mut self, id: u32) {
        self.built_version += 1;
        let v = self.built_version;
        if let Some(e) = self.entries.iter_mut().find(|e| e.id == id && !e.built) {
            e.built = true;
            e.built_at = v;
        }
    }
}

impl InFlight {
    /// Registers the insert of `id` (its node exists, its lists are empty).
    pub(crate) fn register(&self, id: u32) {
        self.0.lock().entries.push(Entry {
            id,
            search_from: None,
            built: false,
            built_at: 0,
            done: None,
            inbox: Vec::new(),
            pending: 0,
            published: None,
        });
    }

    /// Records that `id`'s level-0 search begins now.
    pub(crate) fn start_search(&self, id: u32) {
        let mut r = self.0.lock();
        r.seq += 1;
        let seq = r.seq;
        if let Some(e) = r.entries.iter_mut().find(|e| e.id == id) {
            e.search_from = Some(seq);
        }
    }

    /// The built peers `id`'s searches may have missed, and the version to pass to
    /// [`InFlight::try_mark_built`].
    pub(crate) fn peers(&self, id: u32) -> (Vec<u32>, u64) {
        let r = self.0.lock();
        (r.peers(id, 0), r.built_version)
    }

    /// Marks `id` built if no peer of it was marked built after `version`; else returns those
    /// peers and the version to retry with.
    pub(crate) fn try_mark_built(&self, id: u32, version: u64) -> Result<(), (Vec<u32>, u64)> {
        let mut r = self.0.lock();
        let newer = r.peers(id, version);
        if !newer.is_empty() {
            return Err((newer, r.built_version));
        }
        r.mark_built(id);
        Ok(())
    }

    /// Marks `id` built after `consider` has taken in the peers marked built after `version`,
    /// all under the registry lock, so no peer can be missed (the fallback when
    /// [`InFlight::try_mark_built`] keeps failing).
    pub(crate) fn mark_built_with(&self, id: u32, version: u64, consider: impl FnOnce(&[u32])) {
        let mut r = self.0.lock();
        consider(&r.peers(id, version));
        r.mark_built(id);
    }
    /// Leaves `link` for `target` if its insert is in progress and still takes back-links;
    /// false if the caller must write the back-link itself.
    pub(crate) fn offer(&self, target: u32, link: BackLink) -> bool {
        let mut r = self.0.lock();
        let Some(e) = r
            .entries
            .iter_mut()
            .find(|e| e.id == target && e.done.is_none())
        else {
            return false;
        };
        e.inbox.push(link);
        if let Some(from) = r.entries.iter_mut().find(|e| e.id == link.id) {
            from.pending += 1;
        }
        true
    }

    /// Records that the back-links returned by [`InFlight::finish`] are written.
    pub(crate) fn drained(&self, links: &[BackLink]) {
        if links.is_empty() {
            return;
        }
        let mut r = self.0.lock();
        for l in links {
            r.seq += 1;
            let seq = r.seq;
            if let Some(e) = r.entries.iter_mut().find(|e| e.id == l.id) {
                e.pending = e.pending.saturating_sub(1);
                if e.pending == 0 && e.done.is_some() {
                    e.published = Some(seq);
                }
            }
        }
    }

    /// Closes `id`'s inbox and returns what it holds; forgets entries no insert can need.
    pub(crate) fn finish(&self, id: u32) -> Vec<BackLink> {
        let mut r = self.0.lock();
        r.seq += 1;
        let seq = r.seq;
        let mut inbox = Vec::new();
        r.mark_built(id);
        if let Some(e) = r.entries.iter_mut().find(|e| e.id == id) {
            e.done = Some(seq);
            if e.pending == 0 {
                e.published = Some(seq);
            }
            inbox = std::mem::take(&mut e.inbox);
        }
        // A published entry matters only to inserts whose level-0 search began before it was
        // published and that are not built yet.
        let oldest = r
            .entries
            .iter()
            .filter(|e| !e.built)
            .filter_map(|e| e.search_from)
            .min()
            .unwrap_or(u64::MAX);
        r.entries.retain(|e| e.published.is_none_or(|p| p > oldest));
        inbox
    }

    /// Drops the entries of finished inserts. Called by cleanup while no insert runs (inside a
    /// grace barrier), before the slots of removed nodes are reused: a finished entry matters
    /// only to inserts in progress, and a stale entry must not be mistaken for a new insert
    /// into the same slot.
    pub(crate) fn forget_finished(&self) {
        self.0.lock().entries.retain(|e| e.done.is_none());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_second_of_two_concurrent_inserts_sees_the_first() {
        let f = InFlight::default();
        f.register(1);
        f.register(2);
        f.start_search(1);
        f.start_search(2);
        let (p1, v1) = f.peers(1);
        let (p2, v2) = f.peers(2);
        assert!(p1.is_empty() && p2.is_empty());
        assert!(f.try_mark_built(1, v1).is_ok());
        // 2 read its peers before 1 was built: it is told about 1 and must look again.
        let Err((newer, v2)) = f.try_mark_built(2, v2) else {
            panic!("2 missed 1")
        };
        assert_eq!(newer, [1]);
        assert!(f.try_mark_built(2, v2).is_ok());
        // The locked fallback hands over the peers built after the version it is given.
        f.register(3);
        f.start_search(3);
        let mut seen = Vec::new();
        f.mark_built_with(3, 0, |p| seen = p.to_vec());
        seen.sort_unstable();
        assert_eq!(seen, [1, 2]);
    }

    #[test]
    fn inbox_until_finished_then_forgotten() {
        let f = InFlight::default();
        f.register(1);
        let link = BackLink {
            level: 0,
            id: 9,
            d: 0.5,
        };
        assert!(f.offer(1, link));
        assert!(!f.offer(7, link), "not in flight");
        let got = f.finish(1);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].id, 9);
        assert!(!f.offer(1, link), "inbox closed");
        // Nobody is searching: the finished entry is dropped.
        assert!(f.0.lock().entries.is_empty());
    }

    #[test]
    fn a_peer_whose_back_links_wait_in_an_inbox_stays_visible() {
        let f = InFlight::default();
        f.register(1);
        f.register(2);
        let (_, v) = f.peers(1);
        assert!(f.try_mark_built(1, v).is_ok());
        // 1 leaves its only back-link with 2, then finishes: nothing in the graph leads to 1.
        let link = BackLink {
            level: 0,
            id: 1,
            d: 0.1,
        };
        assert!(f.offer(2, link));
        f.finish(1);
        f.register(3);
        f.start_search(3);
        assert_eq!(f.peers(3).0, [1], "1 is not reachable yet");
        let inbox = f.finish(2);
        f.drained(&inbox);
        f.register(4);
        f.start_search(4);
        assert!(!f.peers(4).0.contains(&1), "1 is reachable through 2 now");
    }

    #[test]
    fn a_peer_finished_during_a_search_stays_visible_to_it() {
        let f = InFlight::default();
        f.register(1);
        f.register(2);
        f.start_search(2);
        f.start_search(1);
        let (_, v) = f.peers(1);
        assert!(f.try_mark_built(1, v).is_ok());
        f.finish(1);
        // 2's search began before 1 finished: 1 stays a peer of 2.
        assert_eq!(f.peers(2).0, [1]);
    }
}
