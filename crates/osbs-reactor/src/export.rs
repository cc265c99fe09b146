//! The built image's content from the Docker Engine's image export (`GET /images/{name}/get`,
//! a tar of `manifest.json`, the config and one tar per layer, in the classic `docker save`
//! layout or the OCI layout of newer Engines), streamed: each layer is gzipped on every core
//! (module `gzip`) into a file of the run's work directory as it arrives, so no layer is ever
//! held in memory. Small entries (configs, tiny layers) are kept in memory until
//! `manifest.json`, which comes last, says what they are.

use std::collections::{HashMap, HashSet};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use bollard::Docker;
use bytes::Bytes;
use futures_util::StreamExt;
use osbs_registry_sync::Growth;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use tokio::sync::{mpsc, watch};

use crate::error::{ReactorError, chain};
use crate::gzip::{self, Compressed};
use crate::layer_store::{self, LayerStore};

/// Entries up to this size are kept in memory until `manifest.json` says what they are.
const SMALL_ENTRY: u64 = 1024 * 1024;
/// The largest image config accepted.
const MAX_CONFIG: usize = 4 * 1024 * 1024;

/// One layer of the exported image, gzipped into a file (or known to the registry already).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layer {
    /// The digests and sizes.
    pub(crate) compressed: Compressed,
    /// The gzip file; `None` when the layer was not compressed because the registry already
    /// has it (`skip`).
    pub(crate) file: Option<PathBuf>,
}

impl Layer {
    /// A layer the registry has already: neither compressed nor sent.
    fn known(diff_id: String, raw_size: u64) -> Self {
        Self {
            compressed: Compressed {
                diff_id,
                digest: String::new(),
                size: 0,
                raw_size,
            },
            file: None,
        }
    }
}

/// The exported image: its config and its layers in order.
#[derive(Debug, Clone)]
pub(crate) struct Exported {
    /// The config JSON exactly as the Engine has it (its sha256 is the image id).
    pub(crate) config: Bytes,
    /// The layers, bottom first, with their `diff_id`s in [`Layer::compressed`].
    pub(crate) layers: Vec<Layer>,
    /// For each layer (bottom first): its `diff_id`, whether compressed or skipped.
    pub(crate) diff_ids: Vec<String>,
}

/// `manifest.json` of an export.
#[derive(Deserialize)]
struct SaveManifest {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

/// The layers the registry has already. In the classic export each layer directory's `json`
/// comes before its tar and names its parent directory: a layer whose depth (its place in
/// the image, from the bottom) is known then has the `diff_id` the Engine reports there, and
/// when the registry has that one it is neither read nor compressed.
#[derive(Debug, Clone, Default)]
pub(crate) struct Skip {
    /// `diff_id`s the registry has.
    pub(crate) diff_ids: HashSet<String>,
    /// The image's `diff_id`s, bottom first, as the Engine reports them.
    pub(crate) layers: Vec<String>,
}

/// What the reader saw of one tar entry.
enum Entry {
    /// A layer recognised as one the registry has: its `diff_id`.
    Known(String),
    /// A small file, kept as it is.
    Small(Vec<u8>),
    /// A large file, gzipped to a file.
    Gzipped(Compressed, PathBuf),
}

/// A layer file that has started to fill: its upload can begin before it is complete.
#[derive(Debug)]
pub(crate) struct Started {
    /// The gzip file being written.
    pub(crate) path: PathBuf,
    /// How far it got, and its digest once complete.
    pub(crate) growth: watch::Receiver<Growth>,
}

/// A file writer that tells how many bytes reached the file.
struct Counting {
    file: std::fs::File,
    written: u64,
    growth: watch::Sender<Growth>,
}

impl io::Write for Counting {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        let written = self.written;
        self.growth.send_modify(|g| g.written = written);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// A `Read` over the chunks the export task sends.
struct ChannelReader {
    chunks: mpsc::Receiver<Result<Bytes, String>>,
    current: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.chunks.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(message)) => return Err(io::Error::other(message)),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// Exports `image` from the Engine and gzips its layers at `level` into `dir`; layers whose
/// `diff_id` is in `skip` (the registry has them) are not compressed when they are small
/// enough to be recognised before compressing. Each large layer is announced on `started` as
/// soon as its file is created, so that its upload can follow the compression.
pub(crate) async fn export(
    docker: &Docker,
    image: &str,
    dir: &Path,
    level: u32,
    skip: Skip,
    started: Option<mpsc::UnboundedSender<Started>>,
) -> Result<Exported, ReactorError> {
    let (tx, rx) = mpsc::channel::<Result<Bytes, String>>(16);
    let mut stream = docker.export_image(image);
    let feeder = async move {
        while let Some(chunk) = stream.next().await {
            let item = chunk.map_err(|e| chain(&e));
            let failed = item.is_err();
            if tx.send(item).await.is_err() || failed {
                return;
            }
        }
    };
    let dir = dir.to_owned();
    let reader = tokio::task::spawn_blocking(move || {
        let input = ChannelReader {
            chunks: rx,
            current: Bytes::new(),
        };
        read_export(input, &dir, level, &skip, started.as_ref())
    });
    let ((), read) = tokio::join!(feeder, reader);
    let read = read.map_err(|e| ReactorError::Export {
        image: image.to_owned(),
        message: format!("the export reader stopped: {e}"),
    })?;
    read.map_err(|message| ReactorError::Export {
        image: image.to_owned(),
        message,
    })
}

/// Gzips `input` into the file `path` on `threads` threads, announcing the file on `started`
/// so that its upload can follow the compression. With `expected`, the input must hash to that
/// `diff_id`: otherwise the file is marked failed, and an upload that followed it never
/// commits.
fn gzip_to_file(
    input: impl Read,
    path: &Path,
    level: u32,
    threads: usize,
    started: Option<&mpsc::UnboundedSender<Started>>,
    expected: Option<&str>,
) -> Result<Compressed, String> {
    let file = std::fs::File::create(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let (growth, follow) = watch::channel(Growth::default());
    if let Some(started) = started {
        let _ = started.send(Started {
            path: path.to_owned(),
            growth: follow,
        });
    }
    let counting = Counting {
        file,
        written: 0,
        growth: growth.clone(),
    };
    let writer = io::BufWriter::with_capacity(256 * 1024, counting);
    let compressed = gzip::compress(input, writer, level, threads)
        .map_err(|e| e.to_string())
        .and_then(|compressed| match expected {
            Some(expected) if compressed.diff_id != expected => Err(format!(
                "it hashes to {}, not to {expected}",
                compressed.diff_id
            )),
            _ => Ok(compressed),
        });
    match compressed {
        Ok(compressed) => {
            growth.send_modify(|g| {
                g.complete = Some((compressed.digest.clone(), compressed.size));
            });
            Ok(compressed)
        }
        Err(e) => {
            growth.send_modify(|g| g.failed = true);
            Err(e)
        }
    }
}

/// The image `image_id` from the Engine's layer store (module `layer_store`) instead of its
/// export: the config as the Engine keeps it, and each layer of `engine_layers` (its
/// `diff_id`s, bottom first) assembled and gzipped at `level` into `dir`, unless the registry
/// has it (`skip`). Each layer must hash to its `diff_id` before its file is complete.
pub(crate) async fn from_store(
    store: LayerStore,
    image_id: &str,
    engine_layers: &[String],
    dir: &Path,
    level: u32,
    skip: HashSet<String>,
    started: Option<mpsc::UnboundedSender<Started>>,
) -> Result<Exported, String> {
    let image_id = image_id.to_owned();
    let engine_layers = engine_layers.to_vec();
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || {
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        let config = store.config(&image_id)?;
        let chains = layer_store::chain_ids(&engine_layers);
        let mut layers: Vec<Layer> = Vec::with_capacity(engine_layers.len());
        for (index, (diff_id, chain_id)) in engine_layers.iter().zip(&chains).enumerate() {
            if let Some(same) = layers.iter().find(|l| &l.compressed.diff_id == diff_id) {
                layers.push(same.clone());
                continue;
            }
            if skip.contains(diff_id) {
                layers.push(Layer::known(diff_id.clone(), 0));
                continue;
            }
            let input = store.layer(chain_id)?;
            let path = dir.join(format!("store-layer-{}.tar.gz", index + 1));
            let compressed = gzip_to_file(
                input,
                &path,
                level,
                threads,
                started.as_ref(),
                Some(diff_id),
            )
            .map_err(|e| format!("layer {diff_id} from the layer store: {e}"))?;
            layers.push(Layer {
                compressed,
                file: Some(path),
            });
        }
        Ok(Exported {
            config: Bytes::from(config),
            layers,
            diff_ids: engine_layers,
        })
    })
    .await
    .map_err(|e| format!("the layer store reader stopped: {e}"))?
}

/// Reads the export tar: layers are gzipped as they stream by, small entries kept.
fn read_export(
    input: impl Read,
    dir: &Path,
    level: u32,
    skip: &Skip,
    started: Option<&mpsc::UnboundedSender<Started>>,
) -> Result<Exported, String> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let mut archive = tar::Archive::new(input);
    let mut entries: HashMap<String, Entry> = HashMap::new();
    let mut links: HashMap<String, String> = HashMap::new();
    let mut manifest: Option<Vec<SaveManifest>> = None;
    // The depth of each classic layer directory whose ancestors came before it.
    let mut depth: HashMap<String, usize> = HashMap::new();
    let mut count = 0usize;
    for entry in archive.entries().map_err(|e| format!("not a tar: {e}"))? {
        let mut entry = entry.map_err(|e| format!("broken tar: {e}"))?;
        let name = entry
            .path()
            .map_err(|e| format!("a tar entry with a bad name: {e}"))?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_owned();
        let kind = entry.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            // `docker save` links a layer saved once already.
            if let Ok(Some(target)) = entry.link_name() {
                let target = target.to_string_lossy().into_owned();
                let base = Path::new(&name).parent().unwrap_or(Path::new(""));
                let resolved = normalise(&base.join(&target));
                links.insert(name, resolved);
            }
            continue;
        }
        if !kind.is_file() {
            continue;
        }
        if name == "manifest.json" {
            let mut text = Vec::new();
            entry
                .read_to_end(&mut text)
                .map_err(|e| format!("cannot read manifest.json: {e}"))?;
            manifest = Some(
                serde_json::from_slice(&text)
                    .map_err(|e| format!("manifest.json is not valid: {e}"))?,
            );
            continue;
        }
        if let Some(dir) = name.strip_suffix("/json") {
            #[derive(Deserialize)]
            struct V1 {
                parent: Option<String>,
            }
            let mut text = Vec::new();
            entry
                .by_ref()
                .take(SMALL_ENTRY)
                .read_to_end(&mut text)
                .map_err(|e| format!("cannot read {name}: {e}"))?;
            if let Ok(v1) = serde_json::from_slice::<V1>(&text) {
                let known = match v1.parent.filter(|p| !p.is_empty()) {
                    None => Some(0),
                    Some(parent) => depth.get(&parent).map(|d| d + 1),
                };
                if let Some(known) = known {
                    depth.insert(dir.to_owned(), known);
                }
            }
            continue;
        }
        if let Some(diff_id) = name
            .strip_suffix("/layer.tar")
            .and_then(|dir| depth.get(dir))
            .and_then(|d| skip.layers.get(*d))
            .filter(|diff_id| skip.diff_ids.contains(*diff_id))
        {
            entries.insert(name, Entry::Known(diff_id.clone()));
            continue;
        }
        let candidate = name.ends_with("/layer.tar")
            || name.starts_with("blobs/")
            || (name.ends_with(".json") && !name.contains('/'));
        if !candidate {
            continue;
        }
        let size = entry.header().size().unwrap_or(u64::MAX);
        if size <= SMALL_ENTRY {
            let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            entry
                .read_to_end(&mut data)
                .map_err(|e| format!("cannot read {name}: {e}"))?;
            entries.insert(name, Entry::Small(data));
        } else {
            count += 1;
            let path = dir.join(format!("layer-{count}.tar.gz"));
            let compressed = gzip_to_file(&mut entry, &path, level, threads, started, None)
                .map_err(|e| format!("cannot gzip {name}: {e}"))?;
            entries.insert(name, Entry::Gzipped(compressed, path));
        }
    }
    let manifest = manifest.ok_or("the export has no manifest.json")?;
    let [image] = <[SaveManifest; 1]>::try_from(manifest)
        .map_err(|m| format!("the export holds {} images, not one", m.len()))?;
    let resolve = |name: &str| links.get(name).cloned().unwrap_or_else(|| name.to_owned());
    let config = match entries.remove(&resolve(&image.config)) {
        Some(Entry::Small(data)) if data.len() <= MAX_CONFIG => Bytes::from(data),
        _ => return Err(format!("the export has no config {}", image.config)),
    };
    let mut layers = Vec::new();
    let mut diff_ids = Vec::new();
    let mut done: HashMap<String, Layer> = HashMap::new();
    for name in &image.layers {
        let name = resolve(name);
        if let Some(layer) = done.get(&name) {
            diff_ids.push(layer.compressed.diff_id.clone());
            layers.push(layer.clone());
            continue;
        }
        let layer = match entries.remove(&name) {
            Some(Entry::Known(diff_id)) => Layer::known(diff_id, 0),
            Some(Entry::Gzipped(compressed, path)) => Layer {
                compressed,
                file: Some(path),
            },
            Some(Entry::Small(data)) => {
                let diff_id = format!("sha256:{}", hex::encode(Sha256::digest(&data)));
                if skip.diff_ids.contains(&diff_id) {
                    Layer::known(diff_id, data.len() as u64)
                } else {
                    count += 1;
                    let path = dir.join(format!("layer-{count}.tar.gz"));
                    let compressed = gzip_to_file(&data[..], &path, level, threads, None, None)
                        .map_err(|e| format!("cannot gzip {name}: {e}"))?;
                    Layer {
                        compressed,
                        file: Some(path),
                    }
                }
            }
            None => return Err(format!("the export has no layer {name}")),
        };
        diff_ids.push(layer.compressed.diff_id.clone());
        done.insert(name, layer.clone());
        layers.push(layer);
    }
    Ok(Exported {
        config,
        layers,
        diff_ids,
    })
}

/// `a/../b/./c` as `b/c`.
fn normalise(path: &Path) -> String {
    let mut parts: Vec<String> = Vec::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                parts.pop();
            }
            std::path::Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            _ => {}
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(files: &[(&str, &[u8])], links: &[(&str, &str)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, data) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, name, *data).unwrap();
        }
        for (name, target) in links {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            header.set_cksum();
            builder.append_link(&mut header, name, target).unwrap();
        }
        builder.into_inner().unwrap()
    }

    #[test]
    fn classic_save_layout_with_a_linked_layer() {
        let dir = tempfile::tempdir().unwrap();
        let big = vec![7u8; (SMALL_ENTRY + 10) as usize];
        let manifest = br#"[{"Config":"cfg.json","RepoTags":null,"Layers":["a/layer.tar","b/layer.tar","c/layer.tar","d/layer.tar"]}]"#;
        let tar = tar_of(
            &[
                ("a/VERSION", b"1.0"),
                ("a/json", br#"{"id":"a"}"#),
                ("a/layer.tar", b"base layer"),
                ("b/json", br#"{"id":"b","parent":"a"}"#),
                ("b/layer.tar", &big),
                ("c/json", br#"{"id":"c","parent":"b"}"#),
                ("cfg.json", b"{\"rootfs\":{}}"),
                ("d/json", br#"{"id":"d","parent":"c"}"#),
                ("d/layer.tar", &big),
                ("manifest.json", manifest),
            ],
            &[("c/layer.tar", "../a/layer.tar")],
        );
        let base = format!("sha256:{}", hex::encode(Sha256::digest(b"base layer")));
        let skip = Skip {
            diff_ids: HashSet::from([base.clone(), "sha256:d".to_owned()]),
            layers: vec![
                base.clone(),
                "sha256:b".to_owned(),
                base.clone(),
                "sha256:d".to_owned(),
            ],
        };
        let exported = read_export(&tar[..], dir.path(), 1, &skip, None).unwrap();
        assert_eq!(&exported.config[..], b"{\"rootfs\":{}}");
        assert_eq!(exported.layers.len(), 4);
        // Recognised by its depth before its tar: neither read nor compressed.
        assert_eq!(exported.diff_ids[3], "sha256:d");
        assert!(exported.layers[3].file.is_none());
        assert_eq!(exported.diff_ids[0], base);
        assert!(
            exported.layers[0].file.is_none(),
            "a known small layer is skipped"
        );
        assert_eq!(exported.layers[2], exported.layers[0]);
        let big_layer = &exported.layers[1];
        assert_eq!(
            big_layer.compressed.diff_id,
            format!("sha256:{}", hex::encode(Sha256::digest(&big)))
        );
        let file = std::fs::read(big_layer.file.as_ref().unwrap()).unwrap();
        assert_eq!(file.len() as u64, big_layer.compressed.size);
    }

    #[test]
    fn a_layer_that_does_not_hash_to_its_diff_id_leaves_its_file_failed() {
        let dir = tempfile::tempdir().unwrap();
        let data = b"the bytes of a layer";
        let right = format!("sha256:{}", hex::encode(Sha256::digest(data)));
        let wrong = format!("sha256:{}", "0".repeat(64));
        let (tx, mut announced) = mpsc::unbounded_channel();
        let err = gzip_to_file(
            &data[..],
            &dir.path().join("bad.gz"),
            1,
            2,
            Some(&tx),
            Some(&wrong),
        )
        .unwrap_err();
        assert!(err.contains("not to sha256:000"), "{err}");
        let started = announced.try_recv().unwrap();
        let growth = started.growth.borrow().clone();
        assert!(
            growth.failed && growth.complete.is_none(),
            "an upload that followed it cannot commit: {growth:?}"
        );
        let good = gzip_to_file(
            &data[..],
            &dir.path().join("good.gz"),
            1,
            2,
            Some(&tx),
            Some(&right),
        )
        .unwrap();
        let growth = announced.try_recv().unwrap().growth.borrow().clone();
        assert_eq!(
            growth.complete,
            Some((good.digest.clone(), good.size)),
            "{growth:?}"
        );
        assert!(!growth.failed);
    }

    /// Removes an image when dropped, also when a test fails.
    struct RemoveImage(String);

    impl Drop for RemoveImage {
        fn drop(&mut self) {
            let _ = std::process::Command::new("docker")
                .args(["rmi", "-f", &self.0])
                .output();
        }
    }

    /// Builds `dockerfile` with the classic builder; the image id.
    fn docker_build(dir: &Path, dockerfile: &str, tag: &str) -> String {
        std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
        let out = std::process::Command::new("docker")
            .args(["build", "-q", "-t", tag, "."])
            .env("DOCKER_BUILDKIT", "0")
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_layer_store_gives_the_layers_of_the_export_byte_for_byte() {
        osbs_testkit::require_services();
        let docker = Docker::connect_with_defaults().unwrap();
        let store = LayerStore::open(&docker)
            .await
            .expect("the tests run beside the Engine, as root");
        let context = tempfile::tempdir().unwrap();
        let tag = format!("localhost/osbs-test/layer-store:{}", std::process::id());
        // Hard and symbolic links, empty files, a name that is not UTF-8, a large file,
        // whiteouts of the base's and of an earlier layer's files, an opaque directory; the
        // same layer twice (one `diff_id` at two places of the image).
        let dockerfile = format!(
            "FROM {}\n\
             RUN mkdir -p /d/sub /opq && echo a > /d/sub/f && ln /d/sub/f /d/hard && \
                 ln -s /d/sub/f /d/sym && touch /d/empty && echo x > /opq/x && \
                 printf 'latin-1' > \"$(printf '/d/n\\351')\" && \
                 head -c 3000000 /dev/urandom > /d/big\n\
             COPY same.txt /same.txt\nCOPY same.txt /same.txt\n\
             RUN rm -f /d/sub/f /bin/true && rm -rf /opq && mkdir /opq && echo y > /opq/y\n",
            osbs_testkit::base_image()
        );
        std::fs::write(context.path().join("same.txt"), "same\n").unwrap();
        let _remove = RemoveImage(tag.clone());
        let id = docker_build(context.path(), &dockerfile, &tag);
        let inspected = docker.inspect_image(&id).await.unwrap();
        let layers = inspected.root_fs.and_then(|r| r.layers).unwrap();
        assert_eq!(layers.len(), 5, "{layers:?}");
        assert_eq!(layers[2], layers[3], "the same layer twice");

        let dir = tempfile::tempdir().unwrap();
        let (tx, mut announced) = mpsc::unbounded_channel();
        let stored = from_store(store, &id, &layers, dir.path(), 1, HashSet::new(), Some(tx))
            .await
            .unwrap();
        let mut files = 0;
        while announced.try_recv().is_ok() {
            files += 1;
        }
        assert_eq!(
            files, 4,
            "every distinct layer was announced for upload, once"
        );
        let exported = export(&docker, &id, dir.path(), 1, Skip::default(), None)
            .await
            .unwrap();
        assert_eq!(stored.diff_ids, layers);
        assert_eq!(exported.diff_ids, layers);
        assert_eq!(stored.config, exported.config);
        for (a, b) in stored.layers.iter().zip(&exported.layers) {
            assert_eq!(a.compressed, b.compressed, "same tar, same gzip");
            assert_eq!(
                std::fs::read(a.file.as_ref().unwrap()).unwrap(),
                std::fs::read(b.file.as_ref().unwrap()).unwrap()
            );
        }
    }

    #[test]
    fn broken_exports_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let no_manifest = tar_of(&[("a/layer.tar", b"x")], &[]);
        assert_eq!(
            read_export(&no_manifest[..], dir.path(), 1, &Skip::default(), None).unwrap_err(),
            "the export has no manifest.json"
        );
        let missing = tar_of(
            &[(
                "manifest.json",
                br#"[{"Config":"c.json","Layers":["a/layer.tar"]}]"#,
            )],
            &[],
        );
        assert_eq!(
            read_export(&missing[..], dir.path(), 1, &Skip::default(), None).unwrap_err(),
            "the export has no config c.json"
        );
    }
}
