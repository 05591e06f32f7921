//! Group-by of a vector search and autocut, as Weaviate applies them to the ranked hits:
//! autocut keeps the hits before the `n`-th jump in distances; group-by walks the hits in
//! distance order, opens a group for each new value of the property (an object with several
//! values joins several groups, one without a value joins the group `""`) until
//! `number_of_groups` exist, and fills each up to `objects_per_group`.

use serde_json::Value;

use crate::query::search::SearchHit;

/// A group-by of a vector search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupBy {
    /// The property grouped by.
    pub property: String,
    /// Most groups returned.
    pub groups: usize,
    /// Most objects per group.
    pub per_group: usize,
}

/// One group of hits, best first.
#[derive(Debug, Clone, PartialEq)]
pub struct HitGroup {
    /// The property value, as text.
    pub name: String,
    /// Its hits in distance order.
    pub hits: Vec<SearchHit>,
}

fn names(v: Option<&Value>) -> Vec<String> {
    let one = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    match v {
        None | Some(Value::Null) => vec![String::new()],
        Some(Value::Array(a)) if a.is_empty() => vec![String::new()],
        Some(Value::Array(a)) => a.iter().map(one).collect(),
        Some(other) => vec![one(other)],
    }
}

/// Groups ranked hits.
pub fn group(hits: Vec<SearchHit>, by: &GroupBy) -> Vec<HitGroup> {
    let mut groups: Vec<HitGroup> = Vec::new();
    for hit in hits {
        for name in names(hit.object.properties.get(&by.property)) {
            let open = groups.len();
            match groups.iter_mut().find(|g| g.name == name) {
                Some(g) if g.hits.len() < by.per_group => g.hits.push(hit.clone()),
                Some(_) => {}
                None if open < by.groups && by.per_group > 0 => groups.push(HitGroup {
                    name,
                    hits: vec![hit.clone()],
                }),
                None => {}
            }
        }
    }
    groups
}

/// How many of the ascending `distances` autocut keeps at the `cut`-th jump.
pub fn autocut(distances: &[f32], cut: usize) -> usize {
    let n = distances.len();
    if n <= 1 {
        return n;
    }
    let (Some(first), Some(last)) = (distances.first(), distances.last()) else {
        return n;
    };
    let step = 1.0 / (n as f32 - 1.0);
    let diff: Vec<f32> = distances
        .iter()
        .enumerate()
        .map(|(i, y)| (y - first) / (last - first) - i as f32 * step)
        .collect();
    let mut extrema = 0;
    for i in 1..n {
        let prev = diff[i - 1];
        let peak = if i == n - 1 {
            diff[i] > prev && diff[i] > diff[i - 2]
        } else {
            diff[i] > prev && diff[i] > diff[i + 1]
        };
        if peak {
            extrema += 1;
            if extrema >= cut {
                return i;
            }
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Weaviate's own table (scores descending; distances are cut the same way).
    #[test]
    fn autocut_matches_weaviates_cases() {
        let cases: &[(&[f32], usize, usize)] = &[
            (&[], 1, 0),
            (&[2.0], 1, 1),
            (&[2.0, 1.95, 1.9, 0.2, 0.1, 0.1, -1.0], 1, 3),
            (&[2.0, 1.95, 1.9, 0.2, 0.1, 0.1, -2.0], 2, 6),
            (&[5.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0], 1, 1),
            (&[5.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0], 2, 5),
            (&[0.298, 0.260, 0.169, 0.108, 0.108, 0.104, 0.093], 1, 3),
            (&[0.5, 0.32, 0.31, 0.30, 0.29, 0.15], 1, 1),
            (&[0.5, 0.32, 0.31, 0.30, 0.29, 0.15, 0.15, 0.15], 2, 5),
            (&[1.0, 0.98, 0.95, 0.9, 0.88, 0.87, 0.80, 0.79], 1, 3),
            (&[1.0, 0.98, 0.95, 0.9, 0.88, 0.87, 0.80, 0.79], 2, 6),
            (&[1.0, 0.98, 0.95, 0.9, 0.88, 0.87, 0.80, 0.79], 3, 8),
            (
                &[0.586835, 0.5450372, 0.34137487, 0.30482167, 0.2753393],
                1,
                2,
            ),
            (&[0.36663342, 0.33818772, 0.045160502, 0.045160501], 1, 2),
        ];
        for (values, cut, want) in cases {
            assert_eq!(autocut(values, *cut), *want, "{values:?} cut {cut}");
        }
    }
}
