//! weft benchmarks. `storage-bench` compares the storage engine with fjall and with the
//! machine's raw fdatasync and sequential-read rates; see `BENCHMARKS.md`.
#![forbid(unsafe_code)]

pub mod server;

/// Sequential read of `files` bypassing the page cache (O_DIRECT), MB/s.
pub fn direct_read_rate(files: &[std::path::PathBuf]) -> anyhow::Result<f64> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    const O_DIRECT: i32 = if cfg!(target_arch = "x86_64") {
        0o40000
    } else {
        0o200000
    };
    const CHUNK: usize = 1 << 20;
    let mut raw = vec![0u8; CHUNK + 4096];
    let off = raw.as_ptr().align_offset(4096);
    let buf = &mut raw[off..off + CHUNK];
    let start = std::time::Instant::now();
    let mut total = 0usize;
    for f in files {
        // Compaction and GC may remove files meanwhile.
        let mut file = match std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(O_DIRECT)
            .open(f)
        {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e.into()),
        };
        loop {
            let n = match file.read(buf) {
                Ok(n) => n,
                // Odd-length tails cannot be read with O_DIRECT on every file system.
                Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => break,
                Err(e) => return Err(e.into()),
            };
            total += n;
            if n < CHUNK {
                break;
            }
        }
    }
    Ok(total as f64 / f64::from(1 << 20) / start.elapsed().as_secs_f64())
}

/// The `p`-quantile (0..=1) of ascending latencies (nearest rank).
pub fn percentile(sorted_ms: &[f64], p: f64) -> f64 {
    let i = ((sorted_ms.len() as f64 - 1.0) * p).round() as usize;
    sorted_ms.get(i).copied().unwrap_or(0.0)
}
