//! A bound on what a document expands to once its fragments are spread, checked after parsing
//! and before anything walks the document.
//!
//! async-graphql's own depth check follows every fragment spread without memory, before the
//! fragment-cycle rule runs: `fragment A on Book { ...A ...A }` or a chain of fragments that
//! each spread the next twice would take exponential time in a few bytes of query, on an async
//! worker. Here each fragment's expanded size is computed once (memoized), cycles are refused
//! with graphql-go's message, and a document expanding to more than [`MAX_FIELDS`] fields is
//! refused.

use std::collections::HashMap;

use async_graphql::Name;
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};

/// Most fields a document may expand to.
pub const MAX_FIELDS: u64 = 100_000;
/// Deepest chain of nested selection sets and spreads the check follows.
const MAX_DEPTH: usize = 512;

enum State {
    Visiting,
    Done(u64),
}

struct Check<'a> {
    doc: &'a ExecutableDocument,
    memo: HashMap<&'a Name, State>,
}

impl<'a> Check<'a> {
    fn set(&mut self, set: &'a SelectionSet, depth: usize) -> Result<u64, String> {
        if depth > MAX_DEPTH {
            return Err(format!(
                "the query nests selections and fragments deeper than {MAX_DEPTH} levels"
            ));
        }
        let mut total: u64 = 0;
        for item in &set.items {
            let n = match &item.node {
                Selection::Field(f) => 1 + self.set(&f.node.selection_set.node, depth + 1)?,
                Selection::InlineFragment(fr) => {
                    self.set(&fr.node.selection_set.node, depth + 1)?
                }
                Selection::FragmentSpread(sp) => {
                    self.fragment(&sp.node.fragment_name.node, depth)?
                }
            };
            total = total.saturating_add(n);
            if total > MAX_FIELDS {
                return Err(format!(
                    "the query expands to more than {MAX_FIELDS} fields once its fragments are spread"
                ));
            }
        }
        Ok(total)
    }

    fn fragment(&mut self, name: &'a Name, depth: usize) -> Result<u64, String> {
        match self.memo.get(name) {
            Some(State::Done(n)) => return Ok(*n),
            Some(State::Visiting) => {
                return Err(format!("Cannot spread fragment \"{name}\" within itself."));
            }
            None => {}
        }
        // An unknown fragment is the validator's to report.
        let Some(def) = self.doc.fragments.get(name) else {
            return Ok(0);
        };
        self.memo.insert(name, State::Visiting);
        let n = self.set(&def.node.selection_set.node, depth + 1)?;
        self.memo.insert(name, State::Done(n));
        Ok(n)
    }
}

/// `Err` with the message when the document's expansion is cyclic or too large.
pub fn check(doc: &ExecutableDocument) -> Result<(), String> {
    let mut c = Check {
        doc,
        memo: HashMap::new(),
    };
    for (_, op) in doc.operations.iter() {
        c.set(&op.node.selection_set.node, 0)?;
    }
    for name in doc.fragments.keys() {
        c.fragment(name, 0)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;

    use super::*;

    fn verdict(q: &str) -> Result<(), String> {
        check(&parse_query(q).expect("parses"))
    }

    #[test]
    fn cycles_and_blow_ups_are_refused_quickly() {
        let err = verdict("{Get{Book{...A}}} fragment A on Book{...A ...A}").unwrap_err();
        assert_eq!(err, "Cannot spread fragment \"A\" within itself.");
        // 2^60 fields from 60 fragments that each spread the next twice.
        let mut q = String::from("{Get{Book{...F0}}}");
        for i in 0..60 {
            q.push_str(&format!(
                " fragment F{i} on Book{{...F{} ...F{}}}",
                i + 1,
                i + 1
            ));
        }
        q.push_str(" fragment F60 on Book{title}");
        assert!(verdict(&q).unwrap_err().contains("expands to more than"));
        assert!(verdict("{Get{Book{...A ...A}}} fragment A on Book{title year}").is_ok());
    }
}
