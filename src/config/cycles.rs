//! Dependency cycles, each reported once.

use std::collections::HashMap;

use super::walk::RawTask;
use crate::tomldoc::Doc;

/// Report dependency cycles, each once, starting at its task that comes
/// first in the file, at that task's `depends_on` entry for the next task.
///
/// Each back edge of a depth-first search in file order closes one cycle;
/// breaking every reported cycle makes the graph acyclic.
pub(super) fn check(doc: &mut Doc<'_>, tasks: &[RawTask], index_of: &HashMap<&str, usize>) {
    let is_node = |i: usize, task: &RawTask| {
        task.id
            .as_ref()
            .is_some_and(|(id, _)| index_of.get(id.as_str()) == Some(&i))
    };
    let edges: Vec<Vec<usize>> = tasks
        .iter()
        .enumerate()
        .map(|(i, task)| {
            if !is_node(i, task) {
                return Vec::new();
            }
            let mut targets = Vec::new();
            for (dep, _) in &task.depends_on {
                if let Some(&target) = index_of.get(dep.as_str()) {
                    if !targets.contains(&target) {
                        targets.push(target);
                    }
                }
            }
            targets
        })
        .collect();

    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let mut marks = vec![Mark::New; tasks.len()];
    let mut cycles: Vec<Vec<usize>> = Vec::new();
    for root in 0..tasks.len() {
        if marks[root] != Mark::New || !is_node(root, &tasks[root]) {
            continue;
        }
        marks[root] = Mark::Open;
        // (task, index of its next edge to follow)
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        while let Some(top) = stack.last_mut() {
            let (node, next) = *top;
            let Some(&target) = edges[node].get(next) else {
                marks[node] = Mark::Done;
                stack.pop();
                continue;
            };
            top.1 += 1;
            match marks[target] {
                Mark::New => {
                    marks[target] = Mark::Open;
                    stack.push((target, 0));
                }
                Mark::Open => {
                    let start = stack.iter().position(|&(n, _)| n == target).unwrap_or(0);
                    let mut cycle: Vec<usize> = stack[start..].iter().map(|&(n, _)| n).collect();
                    let first = (0..cycle.len()).min_by_key(|&k| cycle[k]).unwrap_or(0);
                    cycle.rotate_left(first);
                    if !cycles.contains(&cycle) {
                        cycles.push(cycle);
                    }
                }
                Mark::Done => {}
            }
        }
    }

    let id_of = |i: usize| tasks[i].id.as_ref().map_or("", |(id, _)| id.as_str());
    for cycle in cycles {
        let from = cycle[0];
        let to = cycle[1 % cycle.len()];
        let names: Vec<&str> = cycle
            .iter()
            .chain(std::iter::once(&from))
            .map(|&i| id_of(i))
            .collect();
        let span = tasks[from]
            .depends_on
            .iter()
            .find(|(dep, _)| dep == id_of(to))
            .map_or(0..0, |(_, span)| span.clone());
        doc.error(span, format!("dependency cycle: {}", names.join(" -> ")));
    }
}
