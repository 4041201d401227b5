//! Finds the line:column of a key path in block-style YAML text, for semantic errors (which serde
//! cannot position) and to sharpen positions serde reports at the parent of a tagged enum.

/// 1-based line and column.
pub type Pos = (usize, usize);

/// Position of the key at `path` (e.g. `["mapping", "emial"]`), if it is written in block style.
pub fn locate(text: &str, path: &[&str]) -> Option<Pos> {
    locate_from(text, 0, path)
}

/// Like [`locate`] but only considers the lines from `start_line` (0-based) onwards, with the
/// first path element at any indentation (used to find a key below a known parent position).
pub fn locate_from(text: &str, start_line: usize, path: &[&str]) -> Option<Pos> {
    let mut want = 0usize;
    let mut parent_indent: Option<usize> = None;
    let mut found = None;
    for (idx, line) in text.lines().enumerate().skip(start_line) {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = line.len() - trimmed.len();
        if let Some(p) = parent_indent {
            if indent <= p {
                // Left the parent's block without finding the child.
                return found.filter(|_| want == path.len());
            }
        }
        let key = trimmed.trim_start_matches("- ");
        let Some((k, _)) = key.split_once(':') else {
            continue;
        };
        let k = k.trim().trim_matches(|c| c == '"' || c == '\'');
        if k == path[want] {
            let col = indent + (trimmed.len() - key.len()) + 1;
            found = Some((idx + 1, col));
            want += 1;
            if want == path.len() {
                return found;
            }
            parent_indent = Some(indent);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "version: 1\nsource:\n  type: csv\n  path: x.csv\nmapping:\n  email: E\n  # c\n  phone: P\nload:\n  path: no\n";

    #[test]
    fn finds_nested_keys() {
        assert_eq!(locate(DOC, &["version"]), Some((1, 1)));
        assert_eq!(locate(DOC, &["mapping", "phone"]), Some((8, 3)));
        assert_eq!(locate(DOC, &["source", "path"]), Some((4, 3)));
    }

    #[test]
    fn does_not_leave_the_parent_block() {
        assert_eq!(locate(DOC, &["mapping", "path"]), None);
        assert_eq!(locate(DOC, &["load", "path"]), Some((10, 3)));
    }
}
