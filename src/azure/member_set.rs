//! A group's user members as the connector keeps them between syncs: a sorted, deduplicated
//! `Vec` of ids, so a membership costs one id and nothing more (a `BTreeSet` costs about half as
//! much again in node overhead, and every user is a member of the sync group and usually of a
//! mirrored group). Changes from a delta round are applied together in one merge, so a round
//! costs O(members + changes · log changes) however many members it touches.

use super::object_id::ObjectId;

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct MemberSet(Vec<ObjectId>);

/// Member changes of one delta round, in the order Graph reported them.
#[derive(Debug, Default)]
pub(crate) struct MemberEdits(Vec<(ObjectId, bool)>);

impl MemberEdits {
    pub(crate) fn add(&mut self, id: ObjectId) {
        self.0.push((id, true));
    }

    pub(crate) fn remove(&mut self, id: ObjectId) {
        self.0.push((id, false));
    }
}

impl MemberSet {
    pub(crate) fn contains(&self, id: &ObjectId) -> bool {
        self.0.binary_search(id).is_ok()
    }

    pub(crate) fn iter(&self) -> std::slice::Iter<'_, ObjectId> {
        self.0.iter()
    }

    /// Applies `edits`; for an id edited more than once the last edit wins.
    pub(crate) fn apply(&mut self, edits: MemberEdits) {
        let mut edits = edits.0;
        if edits.is_empty() {
            return;
        }
        // Stable: equal ids keep their order, so the last of each run is the last reported.
        edits.sort_by(|a, b| a.0.cmp(&b.0));
        let mut last: Vec<(ObjectId, bool)> = Vec::with_capacity(edits.len());
        for edit in edits {
            match last.last_mut() {
                Some(prev) if prev.0 == edit.0 => *prev = edit,
                _ => last.push(edit),
            }
        }
        // A deleted user is removed from every group; most groups never had it.
        last.retain(|(id, present)| self.contains(id) != *present);
        if last.is_empty() {
            return;
        }
        let old = std::mem::take(&mut self.0);
        let mut merged = Vec::with_capacity(old.len() + last.len());
        let mut old = old.into_iter().peekable();
        for (id, present) in last {
            while let Some(current) = old.next_if(|current| *current < id) {
                merged.push(current);
            }
            old.next_if(|current| *current == id);
            if present {
                merged.push(id);
            }
        }
        merged.extend(old);
        merged.shrink_to_fit();
        self.0 = merged;
    }
}

impl FromIterator<ObjectId> for MemberSet {
    fn from_iter<I: IntoIterator<Item = ObjectId>>(iter: I) -> Self {
        let mut ids: Vec<ObjectId> = iter.into_iter().collect();
        ids.sort_unstable();
        ids.dedup();
        ids.shrink_to_fit();
        Self(ids)
    }
}

impl<'a> IntoIterator for &'a MemberSet {
    type Item = &'a ObjectId;
    type IntoIter = std::slice::Iter<'a, ObjectId>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    fn id(n: u8) -> ObjectId {
        // Half the ids are GUIDs, half free text.
        if n.is_multiple_of(2) {
            ObjectId::from(format!("00000000-0000-4000-8000-0000000000{n:02x}").as_str())
        } else {
            ObjectId::from(format!("text-{n}").as_str())
        }
    }

    proptest! {
        /// Applying a round at once gives what applying each edit in turn to a `BTreeSet` gives.
        #[test]
        fn a_round_applies_like_its_edits_one_by_one(
            initial in proptest::collection::vec(0u8..40, 0..30),
            edits in proptest::collection::vec((0u8..40, any::<bool>()), 0..40),
        ) {
            let mut model: BTreeSet<ObjectId> = initial.iter().map(|n| id(*n)).collect();
            let mut set: MemberSet = initial.iter().map(|n| id(*n)).collect();
            let mut round = MemberEdits::default();
            for (n, present) in &edits {
                if *present {
                    model.insert(id(*n));
                    round.add(id(*n));
                } else {
                    model.remove(&id(*n));
                    round.remove(id(*n));
                }
            }
            set.apply(round);
            let got: Vec<&ObjectId> = set.iter().collect();
            let want: Vec<&ObjectId> = model.iter().collect();
            prop_assert_eq!(got, want);
            for n in 0u8..40 {
                prop_assert_eq!(set.contains(&id(n)), model.contains(&id(n)));
            }
        }
    }
}
