//! Subtasks listed under their parents: the order and depth in which a
//! flat list of tasks is shown as a tree (`orch status`, the headless
//! summary).

use std::collections::HashMap;

/// `items` (id, parent) in the order to show them: each task followed by
/// its subtasks (in their order in `items`), at one more level of depth;
/// a task whose parent is not in `items` is at the top. Each entry is
/// (index into `items`, depth). Every item is listed once, even where
/// parents would make a loop (which the engine never allows).
pub fn by_parent(items: &[(&str, Option<&str>)]) -> Vec<(usize, usize)> {
    let index: HashMap<&str, usize> = items
        .iter()
        .enumerate()
        .map(|(i, (id, _))| (*id, i))
        .collect();
    let mut children: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut roots = Vec::new();
    for (i, (_, parent)) in items.iter().enumerate() {
        match parent.and_then(|p| index.get(p)).filter(|&&p| p != i) {
            Some(&p) => children.entry(p).or_default().push(i),
            None => roots.push(i),
        }
    }
    let mut shown = vec![false; items.len()];
    let mut out = Vec::with_capacity(items.len());
    let visit = |start: usize, out: &mut Vec<(usize, usize)>, shown: &mut Vec<bool>| {
        let mut stack = vec![(start, 0)];
        while let Some((i, depth)) = stack.pop() {
            if std::mem::replace(&mut shown[i], true) {
                continue;
            }
            out.push((i, depth));
            if let Some(kids) = children.get(&i) {
                stack.extend(kids.iter().rev().map(|&k| (k, depth + 1)));
            }
        }
    };
    for root in roots {
        visit(root, &mut out, &mut shown);
    }
    for i in 0..items.len() {
        if !shown[i] {
            visit(i, &mut out, &mut shown);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtasks_follow_their_parent_one_level_deeper() {
        let items = [
            ("p", None),
            ("q", None),
            ("p-a", Some("p")),
            ("p-a-x", Some("p-a")),
            ("p-b", Some("p")),
            ("orphan", Some("gone")),
        ];
        let shown: Vec<(&str, usize)> = by_parent(&items)
            .into_iter()
            .map(|(i, depth)| (items[i].0, depth))
            .collect();
        assert_eq!(
            shown,
            [
                ("p", 0),
                ("p-a", 1),
                ("p-a-x", 2),
                ("p-b", 1),
                ("q", 0),
                ("orphan", 0)
            ]
        );
    }

    #[test]
    fn a_loop_of_parents_is_still_listed_once_each() {
        let items = [("a", Some("b")), ("b", Some("a")), ("c", None)];
        let mut shown: Vec<usize> = by_parent(&items).into_iter().map(|(i, _)| i).collect();
        shown.sort_unstable();
        assert_eq!(shown, [0, 1, 2]);
    }
}
