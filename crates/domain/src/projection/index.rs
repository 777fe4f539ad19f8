//! The case index: every case, open ones first, most urgent first, in chunks of the store.
//!
//! Spin's key-value store lists keys only all at once, so listing cases by scanning it grows
//! with everything ever stored. The index is a sorted list split into chunks of at most
//! [`MAX_CHUNK`] entries, with a root naming each chunk and its first key: the inbox reads the
//! root and then chunks from the front until its page is full. Only the projector writes it
//! (one writer), so it needs no locking.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::case::{Case, CaseState};
use crate::feedback::Feedback;

/// The most entries one chunk holds before it splits in two. Every fold that moves a case
/// reads and rewrites the root and one chunk: at 100 entries (about 27 KB) a fold costs 2.3
/// times less than at 400 with 2,000 cases, and the root stays smaller than a 400-entry chunk
/// up to about 100,000 cases.
pub const MAX_CHUNK: usize = 100;

/// Where a case sorts: open before the rest, then by the next due time, priority, opening
/// time and id: the inbox's order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SortKey {
    pub closed: bool,
    pub due: Timestamp,
    pub priority: String,
    pub opened: Timestamp,
    pub id: String,
}

/// What the index knows of a case: enough to filter and count without reading it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexEntry {
    pub key: SortKey,
    pub feedback_id: String,
    pub state: CaseState,
    pub team: String,
    pub owner: Option<String>,
    pub recovered: bool,
}

impl IndexEntry {
    pub fn of(case: &Case, feedback: &Feedback) -> Self {
        IndexEntry {
            key: SortKey {
                closed: !case.state.is_open(),
                due: case.next_due(),
                priority: case.triage.priority.as_str().to_owned(),
                opened: case.opened_at,
                id: case.id.clone(),
            },
            feedback_id: feedback.id.clone(),
            state: case.state,
            team: case.triage.team.clone(),
            owner: case.owner.clone(),
            recovered: case.recovered_detractor(feedback.score),
        }
    }

    pub fn case_id(&self) -> &str {
        &self.key.id
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkRef {
    pub id: u64,
    pub first: SortKey,
    pub len: usize,
    /// How many of its cases are open, and how many of those recovered a detractor: the
    /// unfiltered inbox counts from the root and reads only the chunks it shows.
    #[serde(default)]
    pub open: usize,
    #[serde(default)]
    pub open_recovered: usize,
    /// How many of its cases await their customer's answer: the follow-up sweep reads only
    /// the chunks that hold some.
    #[serde(default)]
    pub awaiting: usize,
}

impl ChunkRef {
    /// The root's entry for chunk `id` holding `chunk` (not empty).
    fn describe(id: u64, chunk: &IndexChunk) -> Self {
        let open = || chunk.entries.iter().filter(|e| !e.key.closed);
        ChunkRef {
            id,
            first: chunk.entries[0].key.clone(),
            len: chunk.entries.len(),
            open: open().count(),
            open_recovered: open().filter(|e| e.recovered).count(),
            awaiting: chunk
                .entries
                .iter()
                .filter(|e| e.state == CaseState::ResolvedAwaitingCustomer)
                .count(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IndexRoot {
    /// In key order.
    pub chunks: Vec<ChunkRef>,
    pub next_chunk: u64,
}

impl IndexRoot {
    pub fn len(&self) -> usize {
        self.chunks.iter().map(|c| c.len).sum()
    }

    /// How many cases are open, and how many of those recovered a detractor.
    pub fn open_counts(&self) -> (usize, usize) {
        self.chunks
            .iter()
            .fold((0, 0), |(o, r), c| (o + c.open, r + c.open_recovered))
    }

    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// The chunks that hold cases awaiting their customer's answer, in order.
    pub fn awaiting_chunks(&self) -> impl Iterator<Item = u64> + '_ {
        self.chunks.iter().filter(|c| c.awaiting > 0).map(|c| c.id)
    }

    /// The chunks that may hold open cases, in order: a chunk holds keys from its first on,
    /// so one that starts with a closed case holds only closed ones.
    pub fn open_chunks(&self) -> impl Iterator<Item = u64> + '_ {
        self.chunks
            .iter()
            .take_while(|c| !c.first.closed)
            .map(|c| c.id)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IndexChunk {
    pub entries: Vec<IndexEntry>,
}

/// The index being changed: its root, the chunks read so far, and which were changed.
#[derive(Debug)]
pub struct IndexEdit {
    pub root: IndexRoot,
    chunks: BTreeMap<u64, IndexChunk>,
    changed: BTreeSet<u64>,
    removed: BTreeSet<u64>,
}

impl IndexEdit {
    pub fn new(root: IndexRoot) -> Self {
        IndexEdit {
            root,
            chunks: BTreeMap::new(),
            changed: BTreeSet::new(),
            removed: BTreeSet::new(),
        }
    }

    /// The position in the root of the chunk where `key` belongs.
    fn slot(&self, key: &SortKey) -> usize {
        self.root
            .chunks
            .partition_point(|c| &c.first <= key)
            .saturating_sub(1)
    }

    fn chunk<E>(
        &mut self,
        id: u64,
        load: &mut impl FnMut(u64) -> Result<IndexChunk, E>,
    ) -> Result<&mut IndexChunk, E> {
        Ok(match self.chunks.entry(id) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => e.insert(load(id)?),
        })
    }

    pub fn insert<E>(
        &mut self,
        entry: IndexEntry,
        load: &mut impl FnMut(u64) -> Result<IndexChunk, E>,
    ) -> Result<(), E> {
        if self.root.chunks.is_empty() {
            let id = self.root.next_chunk;
            self.root.next_chunk += 1;
            let chunk = IndexChunk {
                entries: vec![entry],
            };
            self.root.chunks.push(ChunkRef::describe(id, &chunk));
            self.chunks.insert(id, chunk);
            self.changed.insert(id);
            return Ok(());
        }
        let slot = self.slot(&entry.key);
        let id = self.root.chunks[slot].id;
        let chunk = self.chunk(id, load)?;
        let at = chunk.entries.partition_point(|e| e.key < entry.key);
        if chunk.entries.get(at).is_some_and(|e| e.key == entry.key) {
            chunk.entries[at] = entry;
        } else {
            chunk.entries.insert(at, entry);
        }
        let described = ChunkRef::describe(id, chunk);
        let len = described.len;
        self.root.chunks[slot] = described;
        self.changed.insert(id);
        if len > MAX_CHUNK {
            self.split(slot);
        }
        Ok(())
    }

    fn split(&mut self, slot: usize) {
        let id = self.root.chunks[slot].id;
        let chunk = self
            .chunks
            .get_mut(&id)
            .expect("a chunk being split is loaded");
        let upper = IndexChunk {
            entries: chunk.entries.split_off(chunk.entries.len() / 2),
        };
        self.root.chunks[slot] = ChunkRef::describe(id, chunk);
        let new_id = self.root.next_chunk;
        self.root.next_chunk += 1;
        self.root
            .chunks
            .insert(slot + 1, ChunkRef::describe(new_id, &upper));
        self.chunks.insert(new_id, upper);
        self.changed.insert(new_id);
    }

    /// Removes the entry with `key`; nothing if there is none.
    pub fn remove<E>(
        &mut self,
        key: &SortKey,
        load: &mut impl FnMut(u64) -> Result<IndexChunk, E>,
    ) -> Result<(), E> {
        if self.root.chunks.is_empty() {
            return Ok(());
        }
        let slot = self.slot(key);
        let id = self.root.chunks[slot].id;
        let chunk = self.chunk(id, load)?;
        let Ok(at) = chunk.entries.binary_search_by(|e| e.key.cmp(key)) else {
            return Ok(());
        };
        chunk.entries.remove(at);
        if chunk.entries.is_empty() {
            self.root.chunks.remove(slot);
            self.chunks.remove(&id);
            self.changed.remove(&id);
            self.removed.insert(id);
        } else {
            self.root.chunks[slot] = ChunkRef::describe(id, chunk);
            self.changed.insert(id);
        }
        Ok(())
    }

    /// The chunks to write and the chunk ids to delete.
    pub fn changes(&self) -> (Vec<(u64, &IndexChunk)>, Vec<u64>) {
        (
            self.changed
                .iter()
                .filter_map(|id| Some((*id, self.chunks.get(id)?)))
                .collect(),
            self.removed.iter().copied().collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone, Utc};

    fn entry(i: i64, closed: bool) -> IndexEntry {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        IndexEntry {
            key: SortKey {
                closed,
                due: t0 + Duration::minutes(i),
                priority: "P2".into(),
                opened: t0,
                id: format!("case-{i:06}"),
            },
            feedback_id: format!("f{i}"),
            state: if closed {
                CaseState::ClosedConfirmed
            } else {
                CaseState::New
            },
            team: "support".into(),
            owner: None,
            recovered: false,
        }
    }

    /// Applies inserts and removes through a map standing in for the store, checking the
    /// whole index against a plain sorted list after each step.
    #[test]
    fn the_index_stays_sorted_through_splits_and_removals() {
        let mut store: BTreeMap<u64, IndexChunk> = BTreeMap::new();
        let mut root = IndexRoot::default();
        let mut expected: Vec<SortKey> = Vec::new();
        // A deterministic shuffle of 2,000 cases, some closed, then half removed.
        let order: Vec<i64> = (0..2000).map(|i| (i * 7919) % 2000).collect();
        for batch in order.chunks(137) {
            let mut edit = IndexEdit::new(root.clone());
            let mut load = |id| Ok::<_, ()>(store.get(&id).cloned().unwrap_or_default());
            for &i in batch {
                let e = entry(i, i % 3 == 0);
                expected.push(e.key.clone());
                edit.insert(e, &mut load).unwrap();
            }
            let (changed, removed) = edit.changes();
            let changed: Vec<(u64, IndexChunk)> =
                changed.into_iter().map(|(id, c)| (id, c.clone())).collect();
            for (id, c) in changed {
                store.insert(id, c);
            }
            for id in removed {
                store.remove(&id);
            }
            root = edit.root;
        }
        for batch in order
            .iter()
            .filter(|i| *i % 2 == 0)
            .collect::<Vec<_>>()
            .chunks(97)
        {
            let mut edit = IndexEdit::new(root.clone());
            let mut load = |id| Ok::<_, ()>(store.get(&id).cloned().unwrap_or_default());
            for &&i in batch {
                let key = entry(i, i % 3 == 0).key;
                expected.retain(|k| k != &key);
                edit.remove(&key, &mut load).unwrap();
            }
            let (changed, removed) = edit.changes();
            let changed: Vec<(u64, IndexChunk)> =
                changed.into_iter().map(|(id, c)| (id, c.clone())).collect();
            for (id, c) in changed {
                store.insert(id, c);
            }
            for id in removed {
                store.remove(&id);
            }
            root = edit.root;
        }
        expected.sort();
        let listed: Vec<SortKey> = root
            .chunks
            .iter()
            .flat_map(|c| store[&c.id].entries.iter().map(|e| e.key.clone()))
            .collect();
        assert_eq!(listed, expected);
        assert_eq!(root.len(), 1000);
        let open = listed.iter().filter(|k| !k.closed).count();
        assert_eq!(root.open_counts(), (open, 0));
        assert!(root.chunks.iter().all(|c| c.len <= MAX_CHUNK));
        assert!(root.chunks.len() > 2, "the index split");
        // Open cases come first.
        let first_closed = listed.iter().position(|k| k.closed).unwrap();
        assert!(listed[..first_closed].iter().all(|k| !k.closed));
        assert!(listed[first_closed..].iter().all(|k| k.closed));
    }

    #[test]
    fn the_root_names_the_chunks_holding_cases_that_await_their_customer() {
        let mut edit = IndexEdit::new(IndexRoot::default());
        let mut load = |_| Ok::<_, ()>(IndexChunk::default());
        for i in 0..(MAX_CHUNK as i64 * 3) {
            let mut e = entry(i, true);
            if i == 5 {
                e.state = CaseState::ResolvedAwaitingCustomer;
            }
            edit.insert(e, &mut load).unwrap();
        }
        let root = edit.root;
        assert!(root.chunks.len() > 2);
        let awaiting: Vec<u64> = root.awaiting_chunks().collect();
        assert_eq!(
            awaiting,
            [root.chunks[0].id],
            "only the first chunk holds one"
        );
        assert_eq!(root.chunks[0].awaiting, 1);
    }
}
