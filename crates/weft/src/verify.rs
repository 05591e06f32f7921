//! `weft verify`: the offline consistency check of a data directory.
//!
//! Opens the directory the way the server does (taking its `LOCK`, so it refuses while a server
//! runs on it, and replaying any active write-ahead log), runs [`Db::verify`] and prints a
//! summary. It never flushes or compacts: apart from recovery's own repairs (a torn WAL tail cut
//! off, leftover temp files removed, files ahead of the recovered WAL quarantined, an
//! interrupted class delete finished or undone) the directory is left as it was found, so a
//! server started afterwards recovers exactly what it would have recovered without the check.
//!
//! Exit codes: 0 clean, 1 problems found (a shard that cannot be opened is one, named with its
//! file), 2 the directory cannot be opened at all.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use weft_db::{Db, DbOptions, VerifyReport};

use crate::config::{LogFormat, LogLevel};
use crate::logging;

/// Admin subcommands; without one, `weft` runs the server.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Check that objects, the filterable index and the counters of a data directory agree.
    /// Refuses while a server runs on the directory. Exit code 0: clean, 1: problems found,
    /// 2: cannot open.
    Verify(VerifyArgs),
    /// Backups: `weft backup verify <backend> <id>`.
    #[command(subcommand)]
    Backup(BackupCommand),
}

/// `weft backup ...`.
#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Read every chunk of a stored backup (and of the backups an incremental one refers to)
    /// and check every checksum and the descriptors. The backend is configured by the same
    /// variables as the server's module (`BACKUP_FILESYSTEM_PATH`, `BACKUP_S3_*`, ...). Exit
    /// code 0: clean, 1: problems found, 2: cannot be checked (no such backup, no backend).
    Verify {
        /// `filesystem`, `s3`, `gcs` or `azure`.
        backend: String,
        /// The backup id.
        id: String,
    },
}

/// Arguments of `weft verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Directory to check.
    #[arg(
        long = "data-path",
        env = "PERSISTENCE_DATA_PATH",
        default_value = "./data"
    )]
    pub data_path: PathBuf,
}

impl AdminCommand {
    /// Runs the command; the exit code is the command's result.
    pub fn run(self) -> ExitCode {
        match self {
            AdminCommand::Verify(args) => verify(&args),
            AdminCommand::Backup(BackupCommand::Verify { backend, id }) => {
                verify_backup(&backend, &id)
            }
        }
    }
}

const EXIT_PROBLEMS: u8 = 1;
const EXIT_CANNOT_OPEN: u8 = 2;

fn verify(args: &VerifyArgs) -> ExitCode {
    // Recovery warnings (replayed WAL, truncated tail) are worth seeing; info lines are not.
    logging::init(LogLevel::Warning, LogFormat::Text);
    let path = &args.data_path;
    if !path.is_dir() {
        eprintln!(
            "weft verify: cannot open {}: no such directory",
            path.display()
        );
        return ExitCode::from(EXIT_CANNOT_OPEN);
    }
    let mut options = DbOptions::new(path, "verify");
    // No flush, compaction or deferred deletion while checking.
    options.storage.background = false;
    let db = match Db::open(options) {
        Ok(db) => db,
        Err(err) => {
            eprintln!(
                "weft verify: cannot open {}: {:#}",
                path.display(),
                anyhow::Error::new(err)
            );
            return ExitCode::from(EXIT_CANNOT_OPEN);
        }
    };
    let report = match db.verify() {
        Ok(report) => report,
        Err(err) => {
            eprintln!(
                "weft verify: cannot read {}: {:#}",
                path.display(),
                anyhow::Error::new(err)
            );
            return ExitCode::from(EXIT_CANNOT_OPEN);
        }
    };
    // Dropped, not closed: an orderly close would flush the memtables and change the directory.
    drop(db);
    print!("{}", summary(path, &report));
    if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_PROBLEMS)
    }
}

/// The human-readable result.
fn summary(path: &std::path::Path, report: &VerifyReport) -> String {
    let mut out = format!(
        "weft verify {}\nclasses: {}\nobjects: {}\nindex entries checked: {}\nproblems: {}\n",
        path.display(),
        report.classes,
        report.objects,
        report.index_entries,
        report.problems.len()
    );
    for problem in &report.problems {
        out.push_str(&format!("  - {problem}\n"));
    }
    out.push_str(if report.is_clean() {
        "OK: consistent\n"
    } else {
        "FAILED: the data directory is inconsistent\n"
    });
    out
}

fn verify_backup(backend: &str, id: &str) -> ExitCode {
    logging::init(LogLevel::Warning, LogFormat::Text);
    let module = if backend.starts_with("backup-") {
        backend.to_string()
    } else {
        format!("backup-{}", backend.to_ascii_lowercase())
    };
    let store = match crate::config::backup_module(&module)
        .map_err(|e| e.to_string())
        .and_then(|c| c.open().map_err(|e| e.message))
    {
        Ok(store) => store,
        Err(err) => {
            eprintln!("weft backup verify: cannot open backend {backend}: {err}");
            return ExitCode::from(EXIT_CANNOT_OPEN);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("weft backup verify: cannot start the runtime: {err}");
            return ExitCode::from(EXIT_CANNOT_OPEN);
        }
    };
    let report = match runtime.block_on(weft_backup::verify::verify(&store, id)) {
        Ok(report) => report,
        Err(err) => {
            eprintln!("weft backup verify: {}", err.message);
            return ExitCode::from(EXIT_CANNOT_OPEN);
        }
    };
    print!(
        "weft backup verify {backend} {id}\nclasses: {}\nfiles: {}\nchunks: {}\nbytes read: {}\nproblems: {}\n",
        report.classes,
        report.files,
        report.chunks,
        report.bytes,
        report.problems.len()
    );
    for p in &report.problems {
        println!("  {p}");
    }
    if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_PROBLEMS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_lists_counts_and_problems() {
        let clean = VerifyReport {
            classes: 2,
            objects: 10,
            index_entries: 30,
            problems: Vec::new(),
        };
        let text = summary(std::path::Path::new("d"), &clean);
        assert!(text.contains("classes: 2\nobjects: 10\nindex entries checked: 30\nproblems: 0\n"));
        assert!(text.ends_with("OK: consistent\n"), "{text}");
        let bad = VerifyReport {
            problems: vec!["class A: object_count is 3 but 2 objects are stored".into()],
            ..clean
        };
        let text = summary(std::path::Path::new("d"), &bad);
        assert!(
            text.contains("problems: 1\n  - class A: object_count"),
            "{text}"
        );
        assert!(text.ends_with("FAILED: the data directory is inconsistent\n"));
    }
}
