//! Reading the configuration file: a regular file only (a FIFO or a device named by
//! mistake must never hang or disturb a start), bounded in size, UTF-8.

use std::fs::{self, File, Metadata};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// A configuration is a few kilobytes; a file larger than this was named by mistake.
pub(super) const MAX_BYTES: u64 = 1 << 20;

/// The file's text, or what is wrong with it (said after "expected a readable TOML file").
pub(super) fn text(path: &Path) -> Result<String, String> {
    // Looked at before it is opened, so that a FIFO or a device is never opened at all.
    // Symlinks are followed: a Kubernetes ConfigMap is mounted through them.
    let meta = fs::metadata(path).map_err(|e| e.to_string())?;
    regular(&meta)?;
    // Never blocking even if a FIFO took the file's place since: O_NONBLOCK.
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| e.to_string())?;
    regular(&file.metadata().map_err(|e| e.to_string())?)?;
    bounded(file)
}

fn regular(meta: &Metadata) -> Result<(), String> {
    let kind = meta.file_type();
    let what = if kind.is_file() {
        return Ok(());
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a named pipe"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else {
        "not a file"
    };
    Err(format!("a regular file, and this is {what}"))
}

/// At most `MAX_BYTES`, read through the open file (its size may change meanwhile).
fn bounded(file: File) -> Result<String, String> {
    let too_big = || format!("at most {} KiB, and it is larger", MAX_BYTES / 1024);
    let mut bytes = Vec::new();
    file.take(MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(too_big());
    }
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "UTF-8 text (TOML is), and byte {} is not",
            e.utf8_error().valid_up_to() + 1
        )
    })
}
