//! Block-parallel gzip (pigz's layout) of one layer tar, on every core: the input is cut into
//! blocks, each block becomes raw deflate data ending on a byte boundary (a sync flush) on a
//! worker thread, and a writer thread puts them in order behind one gzip header, with the
//! CRC-32s combined and one final empty block. While the bytes pass, the digests a registry
//! needs are computed: the layer's `diff_id` (sha256 of the tar) and its blob digest (sha256
//! of the gzip). Memory stays bounded by the blocks in flight, whatever the layer's size.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use flate2::{Compress, Compression, Crc, FlushCompress, Status};
use sha2::{Digest as _, Sha256};

/// Bytes per block: large enough that the lost dictionary at block starts costs little.
const BLOCK: usize = 1024 * 1024;

/// The gzip level the reactor pushes with, chosen by measurement (`cargo xtask bench build`):
/// level 1 of zlib-rs compresses text-like layers to about three quarters on two cores at
/// about the registry's ingest rate; higher levels cost more time than the smaller upload
/// saves. Blocks that level 1 cannot shrink (random data grew by 5 % at about a third of the
/// speed) are stored instead: see `worker`.
pub(crate) const DEFAULT_LEVEL: u32 = 1;

/// The environment variable that overrides [`DEFAULT_LEVEL`] (0 to 9), for measuring other
/// levels with `cargo xtask bench build --gzip-level N`.
pub(crate) const LEVEL_VAR: &str = "OSBS_REACTOR_GZIP_LEVEL";

/// The level to compress at: [`LEVEL_VAR`] when it holds 0 to 9, else [`DEFAULT_LEVEL`].
pub(crate) fn level() -> u32 {
    std::env::var(LEVEL_VAR)
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok())
        .filter(|level| *level <= 9)
        .unwrap_or(DEFAULT_LEVEL)
}

/// The gzip header: magic, deflate, no flags, no time, no extra flags, unknown OS.
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// A final, empty, fixed-Huffman deflate block: ends the stream after sync-flushed blocks.
const FINAL_BLOCK: [u8; 2] = [0x03, 0x00];

/// What a compression produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Compressed {
    /// `sha256:` of the uncompressed bytes (the layer's `diff_id`).
    pub(crate) diff_id: String,
    /// `sha256:` of the gzip bytes (the blob's digest).
    pub(crate) digest: String,
    /// Size of the gzip bytes.
    pub(crate) size: u64,
    /// Size of the uncompressed bytes.
    pub(crate) raw_size: u64,
}

struct Block {
    index: u64,
    data: Vec<u8>,
}

struct Done {
    index: u64,
    deflated: Vec<u8>,
    crc: Crc,
}

fn sha256(hasher: Sha256) -> String {
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

/// Deflates one block as raw deflate data that ends on a byte boundary (not final).
fn deflate_block(data: &[u8], level: u32) -> io::Result<Vec<u8>> {
    let mut compress = Compress::new(Compression::new(level), false);
    let mut out = Vec::with_capacity(data.len() + data.len() / 64 + 256);
    loop {
        let consumed = usize::try_from(compress.total_in()).unwrap_or(data.len());
        let status = compress
            .compress_vec(&data[consumed..], &mut out, FlushCompress::Sync)
            .map_err(io::Error::other)?;
        let all_in = usize::try_from(compress.total_in()).unwrap_or(0) == data.len();
        if all_in && out.len() < out.capacity() && status != Status::BufError {
            return Ok(out);
        }
        out.reserve(64 * 1024);
    }
}

/// Reads until `buf` is full or the input ends; the number of bytes read.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Gzips everything `input` yields into `output` with `threads` compressing threads (at least
/// one) at `level`, and returns the digests and sizes.
///
/// # Errors
///
/// Reading, compressing or writing fails.
pub(crate) fn compress(
    mut input: impl Read,
    output: impl Write + Send,
    level: u32,
    threads: usize,
) -> io::Result<Compressed> {
    let threads = threads.max(1);
    // Blocks read but not yet written: bounds memory to about twice this many blocks.
    let in_flight = threads * 3;
    let (work_tx, work_rx) = sync_channel::<Block>(threads);
    let work_rx = Arc::new(Mutex::new(work_rx));
    let (done_tx, done_rx) = sync_channel::<io::Result<Done>>(in_flight);
    let (token_tx, token_rx) = sync_channel::<()>(in_flight);
    for _ in 0..in_flight {
        let _ = token_tx.send(());
    }
    let stored = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let work_rx = Arc::clone(&work_rx);
            let done_tx = done_tx.clone();
            let stored = &stored;
            scope.spawn(move || worker(&work_rx, &done_tx, level, stored));
        }
        drop(done_tx);
        let writer = scope.spawn(move || write_blocks(done_rx, output, &token_tx));
        let read = read_blocks(&mut input, &work_tx, &token_rx);
        drop(work_tx);
        let written = writer
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the gzip writer thread panicked")));
        match (read, written) {
            (Ok((diff_id, raw_size)), Ok((digest, size))) => Ok(Compressed {
                diff_id,
                digest,
                size,
                raw_size,
            }),
            // The reader only notices that the writer stopped: the writer says why.
            (Ok(_) | Err(_), Err(write)) => Err(write),
            (Err(read), Ok(_)) => Err(read),
        }
    })
}

/// The reading side: hashes the input and hands out blocks, one token each.
fn read_blocks(
    input: &mut impl Read,
    work: &SyncSender<Block>,
    tokens: &Receiver<()>,
) -> io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut total = 0u64;
    let mut index = 0;
    loop {
        if tokens.recv().is_err() {
            // The writer stopped (it failed): its error is the one to report.
            return Err(io::Error::other("the gzip writer stopped"));
        }
        let mut data = vec![0; BLOCK];
        let n = read_full(input, &mut data)?;
        if n == 0 {
            return Ok((sha256(hasher), total));
        }
        data.truncate(n);
        hasher.update(&data);
        total += n as u64;
        if work.send(Block { index, data }).is_err() {
            return Err(io::Error::other("the gzip workers stopped"));
        }
        index += 1;
        if n < BLOCK {
            return Ok((sha256(hasher), total));
        }
    }
}

/// Whether deflate gained nothing on a block: its output is at least 97 % of its input.
fn incompressible(raw: usize, deflated: usize) -> bool {
    deflated * 100 >= raw * 97
}

/// Every this many blocks, a layer found incompressible is tried at the chosen level again.
const RETRY_EVERY: u64 = 16;

fn worker(
    work: &Mutex<Receiver<Block>>,
    done: &SyncSender<io::Result<Done>>,
    level: u32,
    stored: &AtomicBool,
) {
    loop {
        let block = {
            let receiver = work
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            receiver.recv()
        };
        let Ok(block) = block else { return };
        let mut crc = Crc::new();
        crc.update(&block.data);
        // Random data (compressed files, encrypted blobs) grows under deflate and costs the
        // most time: once a block gains nothing, the next ones are stored (level 0, a copy),
        // with a periodic try at `level` in case the data changes.
        let store = level > 0 && stored.load(Ordering::Relaxed) && block.index % RETRY_EVERY != 0;
        let result = deflate_block(&block.data, if store { 0 } else { level }).and_then(|out| {
            if store || level == 0 {
                return Ok(out);
            }
            let gained_nothing = incompressible(block.data.len(), out.len());
            stored.store(gained_nothing, Ordering::Relaxed);
            // Stored, a block costs five bytes per 64 KiB more than its data: never more.
            if gained_nothing {
                deflate_block(&block.data, 0)
            } else {
                Ok(out)
            }
        });
        let result = result.map(|deflated| Done {
            index: block.index,
            deflated,
            crc,
        });
        if done.send(result).is_err() {
            return;
        }
    }
}

/// The writing side: header, blocks in order (hashing what goes out), final block, trailer.
fn write_blocks(
    done: Receiver<io::Result<Done>>,
    mut output: impl Write,
    tokens: &SyncSender<()>,
) -> io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut put = |bytes: &[u8], output: &mut dyn Write| -> io::Result<()> {
        output.write_all(bytes)?;
        hasher.update(bytes);
        size += bytes.len() as u64;
        Ok(())
    };
    put(&HEADER, &mut output)?;
    let mut crc = Crc::new();
    let mut waiting = BTreeMap::new();
    let mut next = 0;
    for result in done {
        let block = result?;
        waiting.insert(block.index, block);
        while let Some(block) = waiting.remove(&next) {
            put(&block.deflated, &mut output)?;
            crc.combine(&block.crc);
            next += 1;
            let _ = tokens.send(());
        }
    }
    if !waiting.is_empty() {
        return Err(io::Error::other("a gzip block went missing"));
    }
    put(&FINAL_BLOCK, &mut output)?;
    let mut trailer = [0u8; 8];
    trailer[..4].copy_from_slice(&crc.sum().to_le_bytes());
    trailer[4..].copy_from_slice(&crc.amount().to_le_bytes());
    put(&trailer, &mut output)?;
    output.flush()?;
    Ok((sha256(hasher), size))
}

#[cfg(test)]
mod tests {
    use flate2::read::GzDecoder;

    use super::*;

    fn roundtrip(data: &[u8], threads: usize, level: u32) {
        let mut out = Vec::new();
        let c = compress(data, &mut out, level, threads).unwrap();
        let mut back = Vec::new();
        GzDecoder::new(&out[..]).read_to_end(&mut back).unwrap();
        assert_eq!(back, data);
        assert_eq!(c.raw_size, data.len() as u64);
        assert_eq!(c.size, out.len() as u64);
        assert_eq!(c.diff_id, sha256(Sha256::new_with_prefix(data)));
        assert_eq!(c.digest, sha256(Sha256::new_with_prefix(&out)));
    }

    #[test]
    fn gzip_roundtrips_across_blocks() {
        roundtrip(b"", 2, 1);
        roundtrip(b"hello", 1, 6);
        // Text over several blocks (and not a multiple of the block size), random bytes.
        let text: Vec<u8> = (0..(BLOCK * 3 + 12_345))
            .map(|i| b"abcdefghij\n"[i % 11])
            .collect();
        roundtrip(&text, 3, 1);
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let random: Vec<u8> = (0..(BLOCK * 2 + 7))
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state.to_le_bytes()[0]
            })
            .collect();
        roundtrip(&random, 2, 1);
        // Random blocks are stored, not grown: a few bytes per block over the raw size.
        let mut out = Vec::new();
        let c = compress(&random[..], &mut out, 1, 2).unwrap();
        assert!(c.size < c.raw_size + 1024, "{} > {}", c.size, c.raw_size);
        roundtrip(&random[..BLOCK], 2, 0);
    }

    #[test]
    fn a_failing_reader_is_an_error() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("gone"))
            }
        }
        let err = compress(Broken, Vec::new(), 1, 2).unwrap_err();
        assert_eq!(err.to_string(), "gone");
    }
}
