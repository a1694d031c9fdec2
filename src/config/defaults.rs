//! Defaults resolution: each policy key of a task is its own value, else
//! `[defaults]`'s, else the built-in one; and the rules between keys
//! (`backoff <= backoff_max`, ...) checked on the values in force at each
//! level, reported where they are written.

use std::ops::Range;
use std::time::Duration;

use super::duration::format_duration;
use super::model::{Approval, MergeMode, Policy};
use super::walk::RawTask;
use crate::tomldoc::Doc;

type Span = Range<usize>;

const BUILT_IN: &str = "the built-in default";
const FROM_DEFAULTS: &str = "from [defaults]";

/// A policy key as written in one table: absent, present but invalid (already
/// reported), or present and valid.
#[derive(Debug, Clone, Default)]
pub(super) enum Slot<T> {
    #[default]
    Absent,
    Invalid,
    Set(T, Span),
}

impl<T: Copy> Slot<T> {
    /// The value in force given what the enclosing level resolved to; `None`
    /// when it cannot be known because some level is invalid.
    fn over(&self, inherited: Option<T>) -> Option<T> {
        match self {
            Slot::Absent => inherited,
            Slot::Invalid => None,
            Slot::Set(value, _) => Some(*value),
        }
    }

    fn resolve(&self, inherited: T) -> T {
        self.over(Some(inherited)).unwrap_or(inherited)
    }

    fn is_set(&self) -> bool {
        matches!(self, Slot::Set(..))
    }

    pub(super) fn from_checked(value: Option<T>, span: Span) -> Self {
        match value {
            Some(value) => Slot::Set(value, span),
            None => Slot::Invalid,
        }
    }
}

/// The policy keys of `[defaults]` or of one task.
#[derive(Debug, Clone, Default)]
pub(super) struct PolicySlots {
    pub(super) retries: Slot<u32>,
    pub(super) backoff: Slot<Duration>,
    pub(super) backoff_max: Slot<Duration>,
    pub(super) timeout: Slot<Duration>,
    pub(super) heartbeat_warn: Slot<Duration>,
    pub(super) heartbeat_stall: Slot<Duration>,
    pub(super) cpu_warn: Slot<f64>,
    pub(super) cpu_critical: Slot<f64>,
    pub(super) merge: Slot<MergeMode>,
    pub(super) input_timeout: Slot<Duration>,
}

impl PolicySlots {
    pub(super) fn resolve(&self, base: &Policy) -> Policy {
        Policy {
            retries: self.retries.resolve(base.retries),
            backoff: self.backoff.resolve(base.backoff),
            backoff_max: self.backoff_max.resolve(base.backoff_max),
            timeout: self.timeout.resolve(base.timeout),
            heartbeat_warn: self.heartbeat_warn.resolve(base.heartbeat_warn),
            heartbeat_stall: self.heartbeat_stall.resolve(base.heartbeat_stall),
            cpu_warn: self.cpu_warn.resolve(base.cpu_warn),
            cpu_critical: self.cpu_critical.resolve(base.cpu_critical),
            merge: self.merge.resolve(base.merge),
            input_timeout: match &self.input_timeout {
                Slot::Set(timeout, _) => Some(*timeout),
                Slot::Absent | Slot::Invalid => base.input_timeout,
            },
        }
    }
}

/// `approval = "before_merge"` needs a merge to approve: with the task's
/// merge policy `never` it is an error, reported at the approval.
pub(super) fn check_merge_gate(doc: &mut Doc<'_>, task: &RawTask, defaults: &PolicySlots) {
    let Some((Approval::BeforeMerge, span)) = &task.approval else {
        return;
    };
    let merge = task
        .policy
        .merge
        .over(defaults.merge.over(Some(Policy::default().merge)));
    if merge != Some(MergeMode::Never) {
        return;
    }
    let source = if task.policy.merge.is_set() {
        ""
    } else {
        " (from [defaults])"
    };
    doc.error(
        span.clone(),
        format!(
            "approval = \"before_merge\" cannot be used with merge = \"never\"{source}: the branch is never merged, so there would be nothing to approve; set merge = \"manual\" or \"auto\" on {}, or drop the approval",
            task.label()
        ),
    );
}

/// One side of an ordering rule such as `backoff <= backoff_max`.
struct Side<'a, T> {
    name: &'static str,
    slot: &'a Slot<T>,
    /// What applies when `slot` is absent; `None` if that is unknown.
    inherited: Option<T>,
    /// Where `inherited` comes from, for messages.
    source: &'static str,
}

fn side<'a, T: Copy>(
    name: &'static str,
    slot: &'a Slot<T>,
    parent: Option<&Slot<T>>,
    built_in: T,
) -> Side<'a, T> {
    match parent {
        None => Side {
            name,
            slot,
            inherited: Some(built_in),
            source: BUILT_IN,
        },
        Some(parent) => Side {
            name,
            slot,
            inherited: parent.over(Some(built_in)),
            source: if parent.is_set() {
                FROM_DEFAULTS
            } else {
                BUILT_IN
            },
        },
    }
}

/// `backoff_max >= backoff`, `heartbeat_stall > heartbeat_warn` and
/// `cpu_critical >= cpu_warn` for one level: `[defaults]` (`parent` is
/// `None`) or a task (`parent` is `[defaults]`). A level that sets neither
/// key of a pair inherits a pair already checked, so it is skipped.
pub(super) fn check_order(doc: &mut Doc<'_>, slots: &PolicySlots, parent: Option<&PolicySlots>) {
    let built_in = Policy::default();
    ordered(
        doc,
        side(
            "backoff",
            &slots.backoff,
            parent.map(|p| &p.backoff),
            built_in.backoff,
        ),
        side(
            "backoff_max",
            &slots.backoff_max,
            parent.map(|p| &p.backoff_max),
            built_in.backoff_max,
        ),
        false,
        format_duration,
    );
    ordered(
        doc,
        side(
            "heartbeat_warn",
            &slots.heartbeat_warn,
            parent.map(|p| &p.heartbeat_warn),
            built_in.heartbeat_warn,
        ),
        side(
            "heartbeat_stall",
            &slots.heartbeat_stall,
            parent.map(|p| &p.heartbeat_stall),
            built_in.heartbeat_stall,
        ),
        true,
        format_duration,
    );
    ordered(
        doc,
        side(
            "cpu_warn",
            &slots.cpu_warn,
            parent.map(|p| &p.cpu_warn),
            built_in.cpu_warn,
        ),
        side(
            "cpu_critical",
            &slots.cpu_critical,
            parent.map(|p| &p.cpu_critical),
            built_in.cpu_critical,
        ),
        false,
        |n: f64| n.to_string(),
    );
}

/// Require `low <= high` (`low < high` when `strict`), reporting at the
/// `high` key if this level sets it, else at the `low` key.
fn ordered<T: PartialOrd + Copy>(
    doc: &mut Doc<'_>,
    low: Side<'_, T>,
    high: Side<'_, T>,
    strict: bool,
    show: impl Fn(T) -> String,
) {
    if !low.slot.is_set() && !high.slot.is_set() {
        return;
    }
    let (Some(low_value), Some(high_value)) =
        (low.slot.over(low.inherited), high.slot.over(high.inherited))
    else {
        return;
    };
    let in_order = if strict {
        high_value > low_value
    } else {
        high_value >= low_value
    };
    if in_order {
        return;
    }
    if let Slot::Set(_, span) = high.slot {
        let relation = if strict { "greater than" } else { "at least" };
        let note = if low.slot.is_set() {
            String::new()
        } else {
            format!(", {}", low.source)
        };
        doc.error(
            span.clone(),
            format!(
                "{} ({}) must be {relation} {} ({}{note})",
                high.name,
                show(high_value),
                low.name,
                show(low_value),
            ),
        );
    } else if let Slot::Set(_, span) = low.slot {
        let relation = if strict { "less than" } else { "at most" };
        doc.error(
            span.clone(),
            format!(
                "{} ({}) must be {relation} {} ({}, {})",
                low.name,
                show(low_value),
                high.name,
                show(high_value),
                high.source,
            ),
        );
    }
}
