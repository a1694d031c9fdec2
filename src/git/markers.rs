//! Conflict markers left in files: what keeps a resolve attempt's merge
//! from being committed.

use git2::{Commit, Delta, ObjectType, Oid, Repository};

use super::error::git_err;
use super::GitError;

/// Files of tree `new` that differ from `head`'s tree and from every merge
/// head's version and hold a line starting with a conflict marker
/// (`<<<<<<< ` or `>>>>>>> `). A file taken unchanged from either side is
/// that side's content, markers or not; binary files are skipped.
pub(super) fn files_with_markers(
    repo: &Repository,
    head: Option<&Commit<'_>>,
    new: Oid,
    merge_heads: &[Oid],
) -> Result<Vec<String>, GitError> {
    let ctx = "looking for conflict markers";
    let new_tree = repo.find_tree(new).map_err(git_err(ctx))?;
    let head_tree = head.map(Commit::tree).transpose().map_err(git_err(ctx))?;
    let theirs = merge_heads
        .iter()
        .map(|id| repo.find_commit(*id).and_then(|c| c.tree()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(git_err(ctx))?;
    let diff = repo
        .diff_tree_to_tree(head_tree.as_ref(), Some(&new_tree), None)
        .map_err(git_err(ctx))?;
    let mut found = Vec::new();
    for delta in diff.deltas() {
        if !matches!(delta.status(), Delta::Added | Delta::Modified) {
            continue;
        }
        let file = delta.new_file();
        let Some(path) = file.path() else {
            continue;
        };
        let from_theirs = theirs.iter().any(|tree| {
            tree.get_path(path)
                .is_ok_and(|entry| entry.id() == file.id())
        });
        if from_theirs {
            continue;
        }
        let Ok(object) = repo.find_object(file.id(), Some(ObjectType::Blob)) else {
            continue;
        };
        let Some(blob) = object.as_blob() else {
            continue;
        };
        if !blob.is_binary() && has_marker_line(blob.content()) {
            found.push(path.to_string_lossy().into_owned());
        }
    }
    found.sort();
    Ok(found)
}

/// Whether a line of `text` starts with `<<<<<<< ` or `>>>>>>> ` (git's
/// markers, seven characters and a space before the label).
pub(super) fn has_marker_line(text: &[u8]) -> bool {
    text.split(|&b| b == b'\n')
        .any(|line| line.starts_with(b"<<<<<<< ") || line.starts_with(b">>>>>>> "))
}

#[cfg(test)]
mod tests {
    use super::has_marker_line;

    #[test]
    fn marker_lines_are_found_only_at_line_start() {
        assert!(has_marker_line(
            b"a\n<<<<<<< HEAD\nb\n=======\nc\n>>>>>>> main\n"
        ));
        assert!(has_marker_line(b">>>>>>> theirs"));
        assert!(!has_marker_line(b"a <<<<<<< b\n  >>>>>>> c\n"));
        assert!(!has_marker_line(b"<<<<<<<<\n=======\n"));
    }
}
