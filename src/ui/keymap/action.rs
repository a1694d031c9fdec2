//! What a key can do, and where.

use std::fmt;

macro_rules! actions {
    ($($variant:ident => $name:literal, $description:literal;)*) => {
        /// Something a key binding does. Each has a stable name used in
        /// keymap files (`"task.retry"`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Action {
            $($variant,)*
        }

        impl Action {
            /// Every action, in the order of the documentation.
            pub const ALL: &'static [Action] = &[$(Action::$variant,)*];

            /// The name used in keymap files.
            pub fn name(&self) -> &'static str {
                match self {
                    $(Action::$variant => $name,)*
                }
            }

            /// A short description, the default text in the help overlay.
            pub fn description(&self) -> &'static str {
                match self {
                    $(Action::$variant => $description,)*
                }
            }
        }
    };
}

actions! {
    AppQuit => "app.quit", "Quit: detach, or stop the agents";
    AppDetach => "app.detach", "Detach (agents keep running)";
    AppHelp => "app.help", "Show or hide help";
    AppRedraw => "app.redraw", "Redraw the screen";
    FocusNext => "focus.next", "Focus the next pane";
    FocusPrev => "focus.prev", "Focus the previous pane";
    FocusTasks => "focus.tasks", "Focus the task list";
    FocusHealth => "focus.health", "Focus the health pane";
    FocusOutput => "focus.output", "Focus the output pane";
    FocusApprovals => "focus.approvals", "Focus the approvals pane";
    NavUp => "nav.up", "Move up";
    NavDown => "nav.down", "Move down";
    NavPageUp => "nav.page_up", "Move up a page";
    NavPageDown => "nav.page_down", "Move down a page";
    NavTop => "nav.top", "Go to the first item";
    NavBottom => "nav.bottom", "Go to the last item";
    TaskAttach => "task.attach", "Attach to the task's terminal";
    TaskRetry => "task.retry", "Retry the task";
    TaskCancel => "task.cancel", "Cancel the task";
    TaskSkip => "task.skip", "Skip the task";
    TaskLogs => "task.logs", "Show the task's log";
    TaskDetails => "task.details", "Show task details";
    TaskDiff => "task.diff", "Review the task's changes (diff view)";
    TaskPager => "task.pager", "Open the task's diff in your pager";
    TaskMerge => "task.merge", "Merge the task's branch into the base branch";
    TaskResolve => "task.resolve", "Give a merge conflict back to the agent";
    TaskRetryFresh => "task.retry_fresh", "Retry from scratch on the base branch";
    TasksToggleGrouping => "tasks.toggle_grouping", "Nest tasks under dependencies, or group them by stage";
    OutputScrollUp => "output.scroll_up", "Scroll output up";
    OutputScrollDown => "output.scroll_down", "Scroll output down";
    OutputPageUp => "output.page_up", "Scroll output up a page";
    OutputPageDown => "output.page_down", "Scroll output down a page";
    OutputTop => "output.top", "Scroll to the start of the output";
    OutputBottom => "output.bottom", "Scroll to the end of the output (follow)";
    OutputZoom => "output.zoom", "Zoom the output, or back";
    OutputSearch => "output.search", "Search the output (C-r: regex)";
    OutputNextMatch => "output.next_match", "Next match in the output (older)";
    OutputPrevMatch => "output.prev_match", "Previous match in the output (newer)";
    OutputCopyMode => "output.copy_mode", "Copy mode (v select, y copy)";
    DiffOpen => "diff.open", "Show the selected file's diff";
    DiffBack => "diff.back", "Back (clear search, leave file, close)";
    DiffClose => "diff.close", "Close the diff view";
    DiffSearch => "diff.search", "Search (lowercase matches any case)";
    DiffNextMatch => "diff.next_match", "Next match";
    DiffPrevMatch => "diff.prev_match", "Previous match";
    DiffNextFile => "diff.next_file", "Next file";
    DiffPrevFile => "diff.prev_file", "Previous file";
    DiffNextHunk => "diff.next_hunk", "Next hunk";
    DiffPrevHunk => "diff.prev_hunk", "Previous hunk";
    ApprovalApprove => "approval.approve", "Approve";
    ApprovalReject => "approval.reject", "Reject";
    AttentionNext => "attention.next", "Jump to the next item that needs you";
    AttachedDetach => "attached.detach", "Detach from the task";
    AttachedScrollMode => "attached.scroll_mode", "Scroll back through the task's output";
    AttachedScrollDown => "attached.scroll_down", "Scroll forward through the task's output";
    None => "none", "Unbind an inherited binding";
}

impl Action {
    /// The action called `name` in keymap files.
    pub fn from_name(name: &str) -> Option<Action> {
        Action::ALL
            .iter()
            .copied()
            .find(|action| action.name() == name)
    }

    /// Whether this action belongs to `[attached]`: those are the only ones
    /// that may be bound there, and may not be bound anywhere else.
    pub fn is_attached(&self) -> bool {
        matches!(
            self,
            Action::AttachedDetach | Action::AttachedScrollMode | Action::AttachedScrollDown
        )
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a binding applies: the focused pane, everywhere, the diff view, or
/// while attached to a task's terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Context {
    Global,
    Tasks,
    Health,
    Output,
    Approvals,
    /// The diff view, while it is open (over every pane).
    Diff,
    Attached,
}

impl Context {
    /// Every context, in the order of the file's tables.
    pub const ALL: [Context; 7] = [
        Context::Global,
        Context::Tasks,
        Context::Output,
        Context::Approvals,
        Context::Health,
        Context::Diff,
        Context::Attached,
    ];

    /// The table holding this context's bindings.
    pub fn name(&self) -> &'static str {
        match self {
            Context::Global => "global",
            Context::Tasks => "tasks",
            Context::Health => "health",
            Context::Output => "output",
            Context::Approvals => "approvals",
            Context::Diff => "diff",
            Context::Attached => "attached",
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            Context::Global => 0,
            Context::Tasks => 1,
            Context::Output => 2,
            Context::Approvals => 3,
            Context::Health => 4,
            Context::Diff => 5,
            Context::Attached => 6,
        }
    }
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for action in Action::ALL {
            assert_eq!(Action::from_name(action.name()), Some(*action));
            assert!(seen.insert(action.name()), "{action} twice");
            assert!(!action.description().is_empty());
        }
        assert_eq!(Action::from_name("app.quitt"), Option::None);
        assert_eq!(Action::ALL.len(), 56);
    }

    #[test]
    fn context_indexes_match_order() {
        for (i, ctx) in Context::ALL.iter().enumerate() {
            assert_eq!(ctx.index(), i);
        }
    }
}
