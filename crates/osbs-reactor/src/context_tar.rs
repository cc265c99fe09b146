//! The build context as a tar stream: the source tree walked on a blocking thread, filtered by
//! `.dockerignore` (Docker's pattern rules: [`DockerIgnore`], module `dockerignore`), written in
//! small chunks into a bounded channel so memory stays flat whatever the context's size.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::Stream;
use tokio::sync::mpsc;

pub(crate) use crate::dockerignore::DockerIgnore;
use crate::source_files;

/// The `.dockerignore` rules of the checkout at `dir`, read from the git objects of the commit
/// it has checked out (`HEAD`) by the rules submission applied (`source_files::dockerignore`:
/// a regular file of at most 64 KiB, never what a symlink points to), not from the working
/// tree; no file means no rules.
pub(crate) fn load_dockerignore(dir: &Path) -> io::Result<DockerIgnore> {
    let text = source_files::head_commit(dir)
        .and_then(|commit| source_files::dockerignore(dir, &commit))
        .map_err(io::Error::other)?;
    Ok(text.map_or_else(DockerIgnore::default, |text| DockerIgnore::parse(&text)))
}

/// Size of one chunk sent to the Docker Engine.
const CHUNK: usize = 256 * 1024;
/// Chunks in flight between the tar thread and the HTTP body.
const IN_FLIGHT: usize = 4;

/// A `Write` that hands fixed-size chunks to the async side.
struct ChannelWriter {
    buf: Vec<u8>,
    tx: mpsc::Sender<io::Result<Bytes>>,
}

impl ChannelWriter {
    fn send_buf(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "build context reader gone"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = CHUNK - self.buf.len();
        let n = room.min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.send_buf()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_buf()
    }
}

/// Walks `root` and appends every entry that `.dockerignore` keeps. The top-level `.git`
/// directory is never sent: the commit is recorded in labels, not in the context.
fn append_tree<W: Write>(
    builder: &mut tar::Builder<W>,
    root: &Path,
    ignore: &DockerIgnore,
) -> io::Result<()> {
    let mut stack: Vec<PathBuf> = vec![PathBuf::new()];
    let keep_always = ["Dockerfile", ".dockerignore"];
    while let Some(rel_dir) = stack.pop() {
        let mut entries: Vec<_> = fs::read_dir(root.join(&rel_dir))?.collect::<Result<_, _>>()?;
        entries.sort_by_key(fs::DirEntry::file_name);
        for entry in entries {
            let rel = rel_dir.join(entry.file_name());
            let rel_str = rel.to_string_lossy().into_owned();
            if rel_str == ".git" {
                continue;
            }
            let components: Vec<&str> = rel_str.split('/').collect();
            let excluded = ignore.excludes(&components) && !keep_always.contains(&rel_str.as_str());
            let meta = fs::symlink_metadata(entry.path())?;
            if meta.is_dir() {
                if excluded && !ignore.has_exclusions() {
                    continue;
                }
                if !excluded {
                    append_entry(builder, &entry.path(), &rel, &meta)?;
                }
                stack.push(rel);
            } else if !excluded {
                append_entry(builder, &entry.path(), &rel, &meta)?;
            }
        }
    }
    Ok(())
}

fn append_entry<W: Write>(
    builder: &mut tar::Builder<W>,
    path: &Path,
    rel: &Path,
    meta: &fs::Metadata,
) -> io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_metadata_in_mode(meta, tar::HeaderMode::Complete);
    header.set_uid(0);
    header.set_gid(0);
    header.set_username("")?;
    header.set_groupname("")?;
    if meta.file_type().is_symlink() {
        let target = fs::read_link(path)?;
        builder.append_link(&mut header, rel, target)
    } else if meta.is_file() {
        let file = fs::File::open(path)?;
        builder.append_data(&mut header, rel, file)
    } else if meta.is_dir() {
        builder.append_data(&mut header, rel, io::empty())
    } else {
        // Sockets, fifos and devices have no place in a build context.
        Ok(())
    }
}

/// The build context of `root` as a stream of tar chunks. The walk runs on a blocking thread;
/// an error while reading ends the stream with that error.
pub(crate) fn stream(
    root: PathBuf,
    ignore: DockerIgnore,
) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
    let (tx, rx) = mpsc::channel(IN_FLIGHT);
    tokio::task::spawn_blocking(move || {
        let error_tx = tx.clone();
        let writer = ChannelWriter {
            buf: Vec::with_capacity(CHUNK),
            tx,
        };
        let mut builder = tar::Builder::new(writer);
        builder.follow_symlinks(false);
        let result = append_tree(&mut builder, &root, &ignore)
            .and_then(|()| builder.into_inner())
            .and_then(|mut writer| writer.flush());
        if let Err(err) = result
            && err.kind() != io::ErrorKind::BrokenPipe
        {
            let _ = error_tx.blocking_send(Err(err));
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dockerignore::tests::excluded;

    #[test]
    fn patterns() {
        assert!(excluded("*.log", "a.log"));
        assert!(!excluded("*.log", "dir/a.log"));
        assert!(excluded("**/*.log", "dir/sub/a.log"));
        assert!(excluded("**/*.log", "a.log"));
        assert!(excluded("build", "build/x/y"));
        assert!(excluded("/build/", "build"));
        assert!(excluded("docs/*.md", "docs/a.md"));
        assert!(!excluded("docs/*.md", "docs/sub/a.md"));
        assert!(excluded("file?.txt", "file1.txt"));
        assert!(excluded("[a-c]*.bin", "big.bin"));
        assert!(!excluded("[!a-c]*.bin", "big.bin"));
        assert!(!excluded("# comment\n\n", "anything"));
    }

    #[test]
    fn exclusions_re_include() {
        let rules = "*.md\n!README.md\n";
        assert!(excluded(rules, "a.md"));
        assert!(!excluded(rules, "README.md"));
        let rules = "secret\n!secret/keep\n";
        assert!(excluded(rules, "secret/drop"));
        assert!(!excluded(rules, "secret/keep"));
    }

    #[tokio::test]
    async fn stream_honours_dockerignore() {
        use futures_util::StreamExt;

        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::write(root.join("Dockerfile"), "FROM scratch\n").unwrap();
        fs::write(root.join(".dockerignore"), "*.log\nsecret\nDockerfile\n").unwrap();
        fs::write(root.join("a.log"), "x").unwrap();
        fs::write(root.join("keep.txt"), "y").unwrap();
        fs::create_dir_all(root.join("secret/deep")).unwrap();
        fs::write(root.join("secret/deep/key"), "z").unwrap();
        fs::create_dir_all(root.join(".git")).unwrap();
        fs::write(root.join(".git/HEAD"), "ref").unwrap();
        std::os::unix::fs::symlink("keep.txt", root.join("link")).unwrap();

        let ignore = DockerIgnore::load(root).unwrap();
        let chunks: Vec<_> = stream(root.to_path_buf(), ignore).collect().await;
        let mut tar = Vec::new();
        for chunk in chunks {
            tar.extend_from_slice(&chunk.unwrap());
        }
        let mut archive = tar::Archive::new(tar.as_slice());
        let mut names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, [".dockerignore", "Dockerfile", "keep.txt", "link"]);
    }

    #[test]
    fn dockerignore_comes_from_the_commit() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let git = |args: &[&str]| {
            let out = std::process::Command::new("git")
                .current_dir(root)
                .args(["-c", "user.name=t", "-c", "user.email=t@t"])
                .args(args)
                .output()
                .unwrap();
            assert!(out.status.success(), "{args:?}: {out:?}");
        };
        git(&["init", "--quiet"]);
        assert!(load_dockerignore(root).is_err(), "no commit yet");
        fs::write(root.join(".dockerignore"), "*.log\n").unwrap();
        git(&["add", "--all"]);
        git(&["commit", "--quiet", "-m", "c"]);
        // The working tree says otherwise; the commit decides.
        fs::write(root.join(".dockerignore"), "*\n").unwrap();
        let ignore = load_dockerignore(root).unwrap();
        assert!(ignore.excludes(&["a.log"]));
        assert!(!ignore.excludes(&["keep.txt"]));

        fs::remove_file(root.join(".dockerignore")).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", root.join(".dockerignore")).unwrap();
        git(&["add", "--all"]);
        git(&["commit", "--quiet", "-m", "link"]);
        let err = load_dockerignore(root).unwrap_err().to_string();
        assert!(err.starts_with(".dockerignore is a symbolic link"), "{err}");
    }
}
