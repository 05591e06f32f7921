//! The fvecs/ivecs formats: per row, a little-endian i32 dimension then that many f32/i32.

use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, bail};

fn read_rows(path: &Path) -> anyhow::Result<(usize, Vec<[u8; 4]>)> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let Some(head) = bytes.get(..4) else {
        bail!("{} is empty", path.display())
    };
    let dim = i32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let row = 4 * (dim + 1);
    if dim == 0 || bytes.len() % row != 0 {
        bail!(
            "{}: size {} is not a multiple of rows of dim {dim}",
            path.display(),
            bytes.len()
        );
    }
    let mut words = Vec::with_capacity(bytes.len() / 4);
    for r in bytes.chunks_exact(row) {
        words.extend(r[4..].chunks_exact(4).map(|w| [w[0], w[1], w[2], w[3]]));
    }
    Ok((dim, words))
}

/// Rows of an fvecs file.
pub fn read_fvecs(path: &Path) -> anyhow::Result<Vec<Vec<f32>>> {
    let (dim, words) = read_rows(path)?;
    Ok(words
        .chunks_exact(dim)
        .map(|r| r.iter().map(|w| f32::from_le_bytes(*w)).collect())
        .collect())
}

/// Rows of an ivecs file.
pub fn read_ivecs(path: &Path) -> anyhow::Result<Vec<Vec<u32>>> {
    let (dim, words) = read_rows(path)?;
    Ok(words
        .chunks_exact(dim)
        .map(|r| r.iter().map(|w| u32::from_le_bytes(*w)).collect())
        .collect())
}

fn write_rows<T: Copy>(
    path: &Path,
    rows: &[Vec<T>],
    le: impl Fn(T) -> [u8; 4],
) -> anyhow::Result<()> {
    let f = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = BufWriter::new(f);
    for r in rows {
        w.write_all(&(r.len() as i32).to_le_bytes())?;
        for &x in r {
            w.write_all(&le(x))?;
        }
    }
    w.flush()?;
    Ok(())
}

/// Writes rows as fvecs.
pub fn write_fvecs(path: &Path, rows: &[Vec<f32>]) -> anyhow::Result<()> {
    write_rows(path, rows, f32::to_le_bytes)
}

/// Writes rows as ivecs.
pub fn write_ivecs(path: &Path, rows: &[Vec<u32>]) -> anyhow::Result<()> {
    write_rows(path, rows, u32::to_le_bytes)
}
