//! The attempts in flight, by task: what the core knows of each (plain
//! data), and the questions the rest of the core asks about them.

use std::collections::{BTreeMap, HashMap};

use crate::engine::core::{Live, Phase};

#[derive(Debug, Default)]
pub(crate) struct Attempts {
    live: HashMap<String, Live>,
}

impl Attempts {
    pub(crate) fn get(&self, task: &str) -> Option<&Live> {
        self.live.get(task)
    }

    pub(crate) fn get_mut(&mut self, task: &str) -> Option<&mut Live> {
        self.live.get_mut(task)
    }

    /// Is `attempt` of `task` in flight, in `phase`?
    pub(crate) fn is(&self, task: &str, attempt: u32, phase: Phase) -> bool {
        self.live
            .get(task)
            .is_some_and(|l| l.row.attempt == attempt && l.phase == phase)
    }

    /// Take `attempt` of `task` out, if it is in flight in `phase`: an input
    /// about any other attempt (an older one, or one in another phase) is
    /// stale and changes nothing.
    pub(crate) fn take(&mut self, task: &str, attempt: u32, phase: Phase) -> Option<Live> {
        if self.is(task, attempt, phase) {
            self.live.remove(task)
        } else {
            None
        }
    }

    pub(crate) fn insert(&mut self, task: &str, live: Live) {
        self.live.insert(task.to_string(), live);
    }

    /// Attempts that hold a slot: their agent runs or is about to. One
    /// whose agent has exited and whose leftovers are being committed does
    /// not; `max_parallel` and `max_instances` count agents.
    pub(crate) fn slots_taken(&self) -> usize {
        self.live
            .values()
            .filter(|l| l.phase != Phase::Committing)
            .count()
    }

    pub(crate) fn len(&self) -> usize {
        self.live.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    pub(crate) fn tasks(&self) -> impl Iterator<Item = &String> {
        self.live.keys()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&String, &Live)> {
        self.live.iter()
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (&String, &mut Live)> {
        self.live.iter_mut()
    }

    /// Attempts in `phase`, as (task, attempt), sorted.
    pub(crate) fn in_phase(&self, phase: Phase) -> Vec<(String, u32)> {
        let mut found: Vec<(String, u32)> = self
            .live
            .iter()
            .filter(|(_, l)| l.phase == phase)
            .map(|(id, l)| (id.clone(), l.row.attempt))
            .collect();
        found.sort();
        found
    }

    /// How many slot-holding attempts each agent (the one that really
    /// runs) has.
    pub(crate) fn by_agent(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for live in self.live.values().filter(|l| l.phase != Phase::Committing) {
            *counts.entry(live.row.agent.clone()).or_default() += 1;
        }
        counts
    }

    /// Forget every attempt (their agents are left running).
    pub(crate) fn clear(&mut self) {
        self.live.clear();
    }
}
