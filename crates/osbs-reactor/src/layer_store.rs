//! The Docker Engine's own layer store (`overlay2`), read in place: the fast source of the
//! reactor's push path when the reactor runs beside the Engine with read access to its data
//! root (the local backend as root).
//!
//! The Engine's image export (`GET /images/{name}/get`, module `export`) first writes the
//! whole image into a temporary directory and only then streams it: for a 300 MB layer no byte
//! arrives for about 1.4 s here. The Engine itself produces a layer's tar from two things it
//! keeps for every layer, and so can the reactor, without that wait:
//! - `image/overlay2/layerdb/sha256/<chain id>/tar-split.json.gz`: one JSON object per line,
//!   `{"type":2,"payload":BASE64}` for raw tar bytes (headers, padding, the end) and
//!   `{"type":1,"name":NAME,"size":N,...}` for a file's content;
//! - `overlay2/<cache-id>/diff/`: the layer's files (`cache-id` is in the same layerdb
//!   directory).
//!
//! Nothing read here is trusted: the assembled tar must hash to the `diff_id` the Engine
//! reports for the layer, or the layer is not used (and its upload is never committed); the
//! config must hash to the image id. Files are opened only as regular files under the layer's
//! `diff` directory, never through a symbolic link. Any failure sends the caller back to the
//! Engine's export.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::ffi::OsStringExt;
use std::path::{Component, Path, PathBuf};

use base64::Engine as _;
use bollard::Docker;
use flate2::read::GzDecoder;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

/// The largest image config accepted.
const MAX_CONFIG: u64 = 4 * 1024 * 1024;
/// The longest tar-split line accepted (a segment is a few headers and padding).
const MAX_LINE: u64 = 16 * 1024 * 1024;

/// The environment variable that chooses where the push path takes layers from: `auto` (the
/// default: the layer store when it can be read, else the export), `export`, or `store`
/// (never the export: a build fails when the store cannot be read).
pub(crate) const SOURCE_VAR: &str = "OSBS_REACTOR_LAYER_SOURCE";

/// Where the push path takes layers from; see [`SOURCE_VAR`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    Auto,
    Export,
    Store,
}

/// [`SOURCE_VAR`]'s value (unset or empty: `auto`); `Err` with the value when it is none of
/// `auto`, `store` and `export`.
pub(crate) fn source() -> Result<Source, String> {
    match std::env::var(SOURCE_VAR) {
        Err(_) => Ok(Source::Auto),
        Ok(value) => match value.trim() {
            "" | "auto" => Ok(Source::Auto),
            "export" => Ok(Source::Export),
            "store" => Ok(Source::Store),
            _ => Err(value),
        },
    }
}

/// The Engine's data root, when it uses `overlay2` and can be read from here.
#[derive(Debug, Clone)]
pub(crate) struct LayerStore {
    root: PathBuf,
}

/// `sha256:HEX` of `bytes`.
fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The hex part of a `sha256:` digest, when it is one (64 lower-case hex digits).
fn hex_of(digest: &str) -> Option<&str> {
    digest
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

/// The chain ids of a stack of layers (bottom first): the first is its `diff_id`, each next
/// one the digest of `"<chain id below> <diff_id>"`. The layer store is keyed by them.
pub(crate) fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut chain: Vec<String> = Vec::with_capacity(diff_ids.len());
    for diff_id in diff_ids {
        let next = match chain.last() {
            None => diff_id.clone(),
            Some(below) => digest(format!("{below} {diff_id}").as_bytes()),
        };
        chain.push(next);
    }
    chain
}

impl LayerStore {
    /// The store of the Engine `docker` talks to, when it is `overlay2` and readable here.
    ///
    /// # Errors
    ///
    /// Why it cannot be used (another storage driver, no access), for the build log.
    pub(crate) async fn open(docker: &Docker) -> Result<Self, String> {
        let info = docker
            .info()
            .await
            .map_err(|e| format!("the Engine's info: {e}"))?;
        let driver = info.driver.unwrap_or_default();
        if driver != "overlay2" {
            return Err(format!(
                "the Engine's storage driver is `{driver}`, not overlay2"
            ));
        }
        let root = PathBuf::from(info.docker_root_dir.unwrap_or_default());
        Self::at(&root)
    }

    /// The store under the data root `root`.
    ///
    /// # Errors
    ///
    /// Its layer database cannot be read.
    pub(crate) fn at(root: &Path) -> Result<Self, String> {
        if !root.is_absolute() {
            return Err(format!(
                "the Engine's data root `{}` is not absolute",
                root.display()
            ));
        }
        let layerdb = root.join("image/overlay2/layerdb/sha256");
        std::fs::read_dir(&layerdb)
            .map_err(|e| format!("cannot read {}: {e}", layerdb.display()))?;
        Ok(Self {
            root: root.to_owned(),
        })
    }

    /// The config of image `image_id`, exactly as the Engine keeps it.
    ///
    /// # Errors
    ///
    /// It cannot be read, or does not hash to `image_id`.
    pub(crate) fn config(&self, image_id: &str) -> Result<Vec<u8>, String> {
        let hex = hex_of(image_id).ok_or_else(|| format!("`{image_id}` is not an image id"))?;
        let path = self
            .root
            .join("image/overlay2/imagedb/content/sha256")
            .join(hex);
        let mut bytes = Vec::new();
        File::open(&path)
            .and_then(|f| f.take(MAX_CONFIG + 1).read_to_end(&mut bytes))
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if bytes.len() as u64 > MAX_CONFIG {
            return Err(format!("{} is larger than 4 MiB", path.display()));
        }
        let found = digest(&bytes);
        if found != image_id {
            return Err(format!("{} hashes to {found}", path.display()));
        }
        Ok(bytes)
    }

    /// The tar of the layer with chain id `chain_id` (see [`chain_ids`]), assembled as it is
    /// read. The caller checks its digest.
    ///
    /// # Errors
    ///
    /// The layer's metadata cannot be read.
    pub(crate) fn layer(&self, chain_id: &str) -> Result<Assembled, String> {
        let hex = hex_of(chain_id).ok_or_else(|| format!("`{chain_id}` is not a chain id"))?;
        let meta = self.root.join("image/overlay2/layerdb/sha256").join(hex);
        let cache_id = std::fs::read_to_string(meta.join("cache-id"))
            .map_err(|e| format!("cannot read {}/cache-id: {e}", meta.display()))?;
        let cache_id = cache_id.trim();
        if cache_id.is_empty()
            || !cache_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(format!("{}/cache-id is not a layer id", meta.display()));
        }
        let split = meta.join("tar-split.json.gz");
        let file =
            File::open(&split).map_err(|e| format!("cannot open {}: {e}", split.display()))?;
        Ok(Assembled {
            lines: BufReader::new(GzDecoder::new(BufReader::with_capacity(64 * 1024, file))),
            diff: self.root.join("overlay2").join(cache_id).join("diff"),
            split,
            pending: Pending::Nothing,
            line: Vec::new(),
        })
    }
}

/// One line of a tar-split file.
#[derive(Deserialize)]
struct SplitEntry {
    #[serde(rename = "type")]
    kind: u8,
    #[serde(default)]
    name: Option<String>,
    /// The name's bytes (base64) when it is not UTF-8.
    #[serde(default)]
    name_raw: Option<String>,
    #[serde(default)]
    size: i64,
    /// Raw tar bytes (base64) of a segment; a file's checksum, unused here.
    #[serde(default)]
    payload: Option<String>,
}

/// What [`Assembled`] is in the middle of.
enum Pending {
    Nothing,
    Segment(Vec<u8>, usize),
    File {
        file: File,
        left: u64,
        name: PathBuf,
    },
}

/// A layer's tar, assembled from its tar-split file and its `diff` directory as it is read.
pub(crate) struct Assembled {
    lines: BufReader<GzDecoder<BufReader<File>>>,
    diff: PathBuf,
    split: PathBuf,
    pending: Pending,
    line: Vec<u8>,
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

impl Assembled {
    /// Moves to the next entry with bytes; `false` at the end.
    fn next_entry(&mut self) -> io::Result<bool> {
        loop {
            self.line.clear();
            let n = (&mut self.lines)
                .take(MAX_LINE)
                .read_until(b'\n', &mut self.line)?;
            if n == 0 {
                return Ok(false);
            }
            if self.line.last() != Some(&b'\n') && n as u64 >= MAX_LINE {
                return Err(invalid(format!(
                    "{}: a line is too long",
                    self.split.display()
                )));
            }
            let entry: SplitEntry = serde_json::from_slice(&self.line)
                .map_err(|e| invalid(format!("{}: {e}", self.split.display())))?;
            match entry.kind {
                2 => {
                    let bytes = match entry.payload.as_deref() {
                        None | Some("") => continue,
                        Some(text) => base64::engine::general_purpose::STANDARD
                            .decode(text)
                            .map_err(|e| invalid(format!("{}: {e}", self.split.display())))?,
                    };
                    self.pending = Pending::Segment(bytes, 0);
                    return Ok(true);
                }
                1 => {
                    if entry.size <= 0 {
                        continue;
                    }
                    let name = match (entry.name_raw, entry.name) {
                        (Some(raw), _) => PathBuf::from(OsString::from_vec(
                            base64::engine::general_purpose::STANDARD
                                .decode(raw)
                                .map_err(|e| invalid(format!("{}: {e}", self.split.display())))?,
                        )),
                        (None, Some(name)) => PathBuf::from(name),
                        (None, None) => {
                            return Err(invalid(format!(
                                "{}: a file entry without a name",
                                self.split.display()
                            )));
                        }
                    };
                    let size = entry.size.unsigned_abs();
                    let file = self.open(&name, size)?;
                    self.pending = Pending::File {
                        file,
                        left: size,
                        name,
                    };
                    return Ok(true);
                }
                other => {
                    return Err(invalid(format!(
                        "{}: an entry of unknown type {other}",
                        self.split.display()
                    )));
                }
            }
        }
    }

    /// Opens `name` under the `diff` directory one directory at a time (`openat`, never
    /// following a symbolic link, so nothing swapped in between checking and opening can lead
    /// out of it); the file itself must be a regular file of `size` bytes (opened without
    /// blocking, so a FIFO cannot stall the reader).
    fn open(&self, name: &Path, size: u64) -> io::Result<File> {
        use rustix::fs::{CWD, FileType, Mode, OFlags, fstat, openat};
        let mut parts = Vec::new();
        for part in name.components() {
            match part {
                Component::Normal(part) => parts.push(part),
                Component::RootDir | Component::CurDir => {}
                Component::ParentDir | Component::Prefix(_) => {
                    return Err(invalid(format!(
                        "the file name {} climbs out",
                        name.display()
                    )));
                }
            }
        }
        let Some((file_name, dirs)) = parts.split_last() else {
            return Err(invalid(format!(
                "an empty file name in {}",
                self.split.display()
            )));
        };
        let failed = |e: rustix::io::Errno| {
            invalid(format!(
                "{} is not what the layer's tar-split says ({size} bytes): {}",
                self.diff.join(name).display(),
                io::Error::from(e)
            ))
        };
        let directory = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let mut dir = openat(CWD, &self.diff, directory, Mode::empty()).map_err(failed)?;
        for part in dirs {
            dir = openat(&dir, *part, directory, Mode::empty()).map_err(failed)?;
        }
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd = openat(&dir, *file_name, flags, Mode::empty()).map_err(failed)?;
        let stat = fstat(&fd).map_err(failed)?;
        let regular = FileType::from_raw_mode(stat.st_mode) == FileType::RegularFile;
        if !regular || u64::try_from(stat.st_size).ok() != Some(size) {
            return Err(invalid(format!(
                "{} is not what the layer's tar-split says ({size} bytes)",
                self.diff.join(name).display()
            )));
        }
        Ok(File::from(fd))
    }
}

impl Read for Assembled {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match &mut self.pending {
                Pending::Nothing => {
                    if !self.next_entry()? {
                        return Ok(0);
                    }
                }
                Pending::Segment(bytes, at) => {
                    let n = buf.len().min(bytes.len() - *at);
                    buf[..n].copy_from_slice(&bytes[*at..*at + n]);
                    *at += n;
                    if *at == bytes.len() {
                        self.pending = Pending::Nothing;
                    }
                    return Ok(n);
                }
                Pending::File { file, left, name } => {
                    let want = usize::try_from(*left).unwrap_or(usize::MAX).min(buf.len());
                    let n = file.read(&mut buf[..want])?;
                    if n == 0 {
                        return Err(invalid(format!(
                            "{} ended {left} bytes early",
                            self.diff.join(&*name).display()
                        )));
                    }
                    *left -= n as u64;
                    if *left == 0 {
                        self.pending = Pending::Nothing;
                    }
                    return Ok(n);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    #[test]
    fn chain_ids_follow_the_engine_rule() {
        // The busybox base and a layer on it, as `docker image inspect` and the layerdb
        // directory name showed them on this machine.
        let diff_ids = vec![
            "sha256:6a25d7ba5e1d64acf2e91120e7d842a2b8c77a6dcf4cbb79c5e2738b014398e6".to_owned(),
            "sha256:8fad6f63d234722d7e2bf10f34876ad6bd0229d2ed373ad7dd4a61984a5406cd".to_owned(),
        ];
        assert_eq!(
            chain_ids(&diff_ids),
            vec![
                diff_ids[0].clone(),
                "sha256:5c4ec889298e27912917312edb9afa6d4e456e2ec46f38be1d174b17cbca2704"
                    .to_owned(),
            ]
        );
        assert!(chain_ids(&[]).is_empty());
    }

    /// A fake data root with one layer: `files` in its diff directory, `lines` its
    /// tar-split.
    fn store(files: &[(&str, &[u8])], lines: &[String]) -> (tempfile::TempDir, LayerStore) {
        let root = tempfile::tempdir().unwrap();
        let meta = root
            .path()
            .join("image/overlay2/layerdb/sha256")
            .join("a".repeat(64));
        std::fs::create_dir_all(&meta).unwrap();
        std::fs::write(meta.join("cache-id"), "cache1").unwrap();
        let mut gz = flate2::write::GzEncoder::new(
            File::create(meta.join("tar-split.json.gz")).unwrap(),
            flate2::Compression::fast(),
        );
        for line in lines {
            writeln!(gz, "{line}").unwrap();
        }
        gz.finish().unwrap();
        let diff = root.path().join("overlay2/cache1/diff");
        for (name, data) in files {
            let path = diff.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, data).unwrap();
        }
        let store = LayerStore::at(root.path()).unwrap();
        (root, store)
    }

    fn segment(bytes: &[u8]) -> String {
        format!(
            r#"{{"type":2,"payload":"{}"}}"#,
            base64::engine::general_purpose::STANDARD.encode(bytes)
        )
    }

    fn read_all(store: &LayerStore) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        store
            .layer(&format!("sha256:{}", "a".repeat(64)))?
            .read_to_end(&mut out)
            .map_err(|e| e.to_string())?;
        Ok(out)
    }

    #[test]
    fn segments_and_files_interleave_in_order() {
        let lines = vec![
            segment(b"HEADER1"),
            r#"{"type":1,"name":"etc/app.conf","size":5,"payload":"AAAAAAAAAAA=","position":1}"#
                .to_owned(),
            r#"{"type":1,"name":"empty","size":0,"payload":null,"position":2}"#.to_owned(),
            segment(b"PAD"),
            r#"{"type":2,"payload":"","position":4}"#.to_owned(),
            segment(b"END"),
        ];
        let (_root, store) = store(&[("etc/app.conf", b"hello")], &lines);
        assert_eq!(read_all(&store).unwrap(), b"HEADER1helloPADEND");
    }

    #[test]
    fn a_file_that_does_not_match_its_entry_is_refused() {
        let entry = |name: &str, size: u64| {
            format!(r#"{{"type":1,"name":"{name}","size":{size},"payload":"AA=="}}"#)
        };
        // Wrong size, missing, climbing out, through a symbolic link to a directory, a
        // symbolic link to a file of the right size, a FIFO (which must not block the reader).
        for (name, size) in [
            ("a", 4),
            ("missing", 1),
            ("../../x", 1),
            ("link/f", 1),
            ("filelink", 3),
            ("fifo", 1),
        ] {
            let (root, store) = store(&[("a", b"abc"), ("real/f", b"f")], &[entry(name, size)]);
            let diff = root.path().join("overlay2/cache1/diff");
            std::os::unix::fs::symlink(diff.join("real"), diff.join("link")).unwrap();
            std::os::unix::fs::symlink(diff.join("a"), diff.join("filelink")).unwrap();
            rustix::fs::mknodat(
                rustix::fs::CWD,
                diff.join("fifo"),
                rustix::fs::FileType::Fifo,
                rustix::fs::Mode::from_raw_mode(0o600),
                0,
            )
            .unwrap();
            assert!(read_all(&store).is_err(), "{name} was read");
        }
        // The same entry for the real file is read.
        let (_root, store) = store(&[("real/f", b"f")], &[entry("real/f", 1)]);
        assert_eq!(read_all(&store).unwrap(), b"f");
    }

    #[test]
    fn a_config_must_hash_to_the_image_id() {
        let (root, store) = store(&[], &[]);
        let content = root.path().join("image/overlay2/imagedb/content/sha256");
        std::fs::create_dir_all(&content).unwrap();
        let config = br#"{"rootfs":{"diff_ids":[]}}"#;
        let id = digest(config);
        std::fs::write(content.join(hex_of(&id).unwrap()), config).unwrap();
        assert_eq!(store.config(&id).unwrap(), config);
        let other = format!("sha256:{}", "b".repeat(64));
        std::fs::write(content.join("b".repeat(64)), config).unwrap();
        assert!(store.config(&other).unwrap_err().contains("hashes to"));
        assert!(store.config("sha256:../../etc").is_err());
    }
}
