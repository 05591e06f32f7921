//! K-way merge of sorted layers (segments and memtables) for scans and compaction.

use std::ops::Bound;
use std::sync::Arc;

use crate::entry::Entry;
use crate::error::Result;
use crate::segment::Segment;
use crate::shard::View;

type Source = Box<dyn Iterator<Item = Result<(Vec<u8>, Entry)>> + Send>;

/// Yields each key once with its entries from all layers, oldest layer first.
pub(crate) struct MergeIter {
    sources: Vec<Source>,
    heads: Vec<Option<(Vec<u8>, Entry)>>,
    started: bool,
    failed: bool,
}

impl MergeIter {
    fn new(sources: Vec<Source>) -> Self {
        let heads = sources.iter().map(|_| None).collect();
        Self {
            sources,
            heads,
            started: false,
            failed: false,
        }
    }

    pub(crate) fn over_segments(segs: &[Arc<Segment>]) -> Self {
        let sources = segs
            .iter()
            .map(|s| Box::new(s.range(Bound::Unbounded, Bound::Unbounded)) as Source)
            .collect();
        Self::new(sources)
    }

    pub(crate) fn over_view(view: &View, lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> Self {
        let mut sources: Vec<Source> = view
            .segments
            .iter()
            .map(|s| Box::new(s.range(lo, hi)) as Source)
            .collect();
        for m in view.frozen.iter().chain(std::iter::once(&view.active)) {
            sources.push(Box::new(m.range(lo, hi).into_iter().map(Ok)));
        }
        Self::new(sources)
    }

    fn advance(&mut self, i: usize) -> Result<()> {
        if let (Some(src), Some(head)) = (self.sources.get_mut(i), self.heads.get_mut(i)) {
            *head = src.next().transpose()?;
        }
        Ok(())
    }

    fn step(&mut self) -> Result<Option<(Vec<u8>, Vec<Entry>)>> {
        if !self.started {
            self.started = true;
            for i in 0..self.sources.len() {
                self.advance(i)?;
            }
        }
        let Some(min) = self.heads.iter().flatten().map(|(k, _)| k).min().cloned() else {
            return Ok(None);
        };
        let mut entries = Vec::new();
        for i in 0..self.heads.len() {
            let hit = self
                .heads
                .get(i)
                .and_then(Option::as_ref)
                .is_some_and(|(k, _)| *k == min);
            if hit {
                if let Some((_, e)) = self.heads.get_mut(i).and_then(Option::take) {
                    entries.push(e);
                }
                self.advance(i)?;
            }
        }
        Ok(Some((min, entries)))
    }
}

impl Iterator for MergeIter {
    type Item = Result<(Vec<u8>, Vec<Entry>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match self.step() {
            Ok(v) => v.map(Ok),
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}
