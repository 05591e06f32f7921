//! Validation of Backup API requests, with Weaviate's messages.

use std::collections::BTreeSet;
use std::path::Path;

use weft_api::backup::CompressionLevel;

use crate::error::{BackupError, Result};
use crate::format::{Descriptor, WEFT_FORMAT};

pub(crate) fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

pub(crate) fn invalid_id(id: &str) -> BackupError {
    BackupError::unprocessable(format!(
        "invalid backup id: '{id}' allowed characters are lowercase, 0-9, _, -"
    ))
}

/// `*` and `?` wildcards, as in Weaviate's class lists.
pub(crate) fn wildcard(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => {
                go(p.get(1..).unwrap_or_default(), n)
                    || (!n.is_empty() && go(p, n.get(1..).unwrap_or_default()))
            }
            (Some(b'?'), Some(_)) => go(
                p.get(1..).unwrap_or_default(),
                n.get(1..).unwrap_or_default(),
            ),
            (Some(a), Some(b)) if a == b => go(
                p.get(1..).unwrap_or_default(),
                n.get(1..).unwrap_or_default(),
            ),
            _ => false,
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

pub(crate) fn no_duplicates(list: &[String], which: &str) -> Result<()> {
    let mut seen = BTreeSet::new();
    for c in list {
        if !seen.insert(c) {
            return Err(BackupError::unprocessable(format!(
                "class list '{which}' contains duplicate: {c}"
            )));
        }
    }
    Ok(())
}

pub(crate) fn list_text(names: &[String]) -> String {
    format!("[{}]", names.join(" "))
}

/// Applies include / exclude (with wildcards) to `available`.
pub(crate) fn select(
    available: &[String],
    include: &[String],
    exclude: &[String],
    missing: impl Fn(&str) -> String,
    empty: impl Fn() -> String,
) -> Result<Vec<String>> {
    if !include.is_empty() && !exclude.is_empty() {
        return Err(BackupError::unprocessable(
            "malformed request: 'include' and 'exclude' cannot both contain values",
        ));
    }
    no_duplicates(include, "include")?;
    no_duplicates(exclude, "exclude")?;
    let chosen: Vec<String> = if include.is_empty() {
        available
            .iter()
            .filter(|c| !exclude.iter().any(|p| wildcard(p, c)))
            .cloned()
            .collect()
    } else {
        let mut problems = Vec::new();
        for p in include {
            if !available.iter().any(|c| wildcard(p, c)) {
                problems.push(missing(p));
            }
        }
        if !problems.is_empty() {
            return Err(BackupError::unprocessable(problems.join("\n")));
        }
        available
            .iter()
            .filter(|c| include.iter().any(|p| wildcard(p, c)))
            .cloned()
            .collect()
    };
    if chosen.is_empty() {
        return Err(BackupError::unprocessable(empty()));
    }
    Ok(chosen)
}

pub(crate) fn compression(level: Option<&str>) -> Result<CompressionLevel> {
    let Some(level) = level.filter(|l| !l.is_empty()) else {
        return Ok(CompressionLevel::default());
    };
    serde_json::from_value(serde_json::Value::String(level.to_string())).map_err(|_| {
        BackupError::unprocessable(
            "config.CompressionLevel in body should be one of [DefaultCompression BestSpeed BestCompression ZstdDefaultCompression ZstdBestSpeed ZstdBestCompression NoCompression]",
        )
    })
}

pub(crate) fn cpu_percentage(value: Option<i64>) -> Result<u8> {
    match value {
        None | Some(0) => Ok(50),
        Some(v) if v > 80 => Err(BackupError::unprocessable(
            "config.CPUPercentage in body should be less than or equal to 80",
        )),
        Some(v) if v < 1 => Err(BackupError::unprocessable(
            "config.CPUPercentage in body should be greater than or equal to 1",
        )),
        Some(v) => Ok(u8::try_from(v).unwrap_or(50)),
    }
}

pub(crate) fn no_overrides(
    endpoint: Option<&str>,
    bucket: Option<&str>,
    path: Option<&str>,
) -> Result<()> {
    if [endpoint, bucket, path]
        .iter()
        .any(|v| v.is_some_and(|s| !s.is_empty()))
    {
        return Err(BackupError::unprocessable(
            "backup location overrides (config Endpoint, Bucket, Path) are not supported by weft yet: configure the backend's module instead",
        ));
    }
    Ok(())
}

/// Refuses descriptors weft did not write, or a newer weft wrote.
pub(crate) fn check_format(d: &Descriptor, id: &str) -> Result<()> {
    if d.weft_format == 0 {
        return Err(BackupError::unprocessable(format!(
            "wrong backup file: backup \"{id}\" was not made by weft (weft restores only its own backups)"
        )));
    }
    if d.weft_format > WEFT_FORMAT {
        return Err(BackupError::unprocessable(format!(
            "unable to restore backup as it was produced by a higher version: weft format {} > {WEFT_FORMAT}",
            d.weft_format
        )));
    }
    Ok(())
}

/// A path from a manifest, safe to join under a staging directory: relative, no `..`.
pub(crate) fn safe_rel(path: &str) -> Result<&Path> {
    let p = Path::new(path);
    let ok = !path.is_empty()
        && p.components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
    if ok {
        Ok(p)
    } else {
        Err(BackupError::unprocessable(format!(
            "corrupted backup file: unsafe path {path:?} in the manifest"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_like_weaviates_class_lists() {
        assert!(wildcard("Art*", "Article"));
        assert!(wildcard("A?ticle", "Article"));
        assert!(wildcard("*", "X"));
        assert!(!wildcard("Art", "Article"));
        assert!(!wildcard("B*", "Article"));
    }

    #[test]
    fn ids_follow_weaviates_rule() {
        for ok in ["a", "b-1_x", "0"] {
            assert!(valid_id(ok), "{ok}");
        }
        for bad in ["", "A", "a b", "a.b", "ä"] {
            assert!(!valid_id(bad), "{bad}");
        }
    }

    #[test]
    fn selection_reports_weaviates_errors() {
        let all = vec!["A".to_string(), "B".to_string()];
        let miss = |c: &str| format!("class {c} doesn't exist");
        let empty = || "empty".to_string();
        assert_eq!(select(&all, &[], &[], miss, empty).unwrap(), all);
        assert_eq!(
            select(&all, &["B".into()], &[], miss, empty).unwrap(),
            vec!["B".to_string()]
        );
        let e = select(&all, &["A".into()], &["B".into()], miss, empty).unwrap_err();
        assert!(e.message.contains("cannot both contain values"));
        let e = select(&all, &["A".into(), "A".into()], &[], miss, empty).unwrap_err();
        assert_eq!(e.message, "class list 'include' contains duplicate: A");
        let e = select(&all, &["C".into()], &[], miss, empty).unwrap_err();
        assert_eq!(e.message, "class C doesn't exist");
        let e = select(&all, &[], &["*".into()], miss, empty).unwrap_err();
        assert_eq!(e.message, "empty");
    }
}

#[cfg(test)]
mod path_tests {
    use super::safe_rel;

    #[test]
    fn manifest_paths_cannot_leave_the_staging_directory() {
        for ok in ["lsm/objects/0001.seg", "abc123/wal/x.log", "f"] {
            assert!(safe_rel(ok).is_ok(), "{ok}");
        }
        for bad in ["", "../x", "a/../../b", "/etc/passwd", "./a"] {
            assert!(safe_rel(bad).is_err(), "{bad}");
        }
    }
}
