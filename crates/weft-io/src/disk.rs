//! Space on the file system holding a path (`statvfs`), for the disk-use monitor.

use std::io;
use std::path::Path;

/// Sizes of the file system holding a path, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskUsage {
    /// Size of the file system (`f_blocks × f_frsize`).
    pub total: u64,
    /// Free space, including blocks reserved for root (`f_bfree × f_frsize`).
    pub free: u64,
    /// Free space an unprivileged writer can use (`f_bavail × f_frsize`).
    pub available: u64,
}

impl DiskUsage {
    /// Used share in percent as Weaviate computes it: `(blocks − bfree) / blocks × 100`, so
    /// root-reserved blocks count as free. An empty file system reports 0.
    pub fn used_percent(&self) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        let used = self.total.saturating_sub(self.free);
        used as f64 / self.total as f64 * 100.0
    }
}

/// `statvfs(path)`: the sizes of the file system that holds `path`.
///
/// ```
/// let usage = weft_io::disk::disk_usage(std::path::Path::new(".")).unwrap();
/// assert!(usage.available <= usage.free && usage.free <= usage.total);
/// ```
pub fn disk_usage(path: &Path) -> io::Result<DiskUsage> {
    let st = rustix::fs::statvfs(path)?;
    // POSIX: block counts are in units of f_frsize (f_bsize on systems that leave it 0).
    let unit = if st.f_frsize > 0 {
        st.f_frsize
    } else {
        st.f_bsize
    };
    Ok(DiskUsage {
        total: st.f_blocks.saturating_mul(unit),
        free: st.f_bfree.saturating_mul(unit),
        available: st.f_bavail.saturating_mul(unit),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn used_percent_counts_reserved_blocks_as_free() {
        let usage = DiskUsage {
            total: 1000,
            free: 150,
            available: 100,
        };
        assert!((usage.used_percent() - 85.0).abs() < 1e-9);
        let empty = DiskUsage {
            total: 0,
            free: 0,
            available: 0,
        };
        assert!(empty.used_percent().abs() < f64::EPSILON);
    }

    #[test]
    fn reads_a_real_file_system() {
        let dir = tempfile::tempdir().unwrap();
        let usage = disk_usage(dir.path()).unwrap();
        assert!(usage.total > 0, "{usage:?}");
        assert!(usage.free <= usage.total, "{usage:?}");
        assert!(usage.available <= usage.free, "{usage:?}");
        let err = disk_usage(&dir.path().join("missing")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
