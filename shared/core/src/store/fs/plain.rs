//! The content facts of each object, computed once: the ETag (MD5 of the bytes, as S3 reports it
//! for a single-part upload) and the full-object CRC64NVME checksum (S3's default stored checksum).
//!
//! A generation written through the store (put, copy, adoption) keeps both in its `<G>.json`
//! beside its data, computed while the bytes were written. A plain file (an export downloaded
//! into the folder, never written through the store) has no generation: its facts are computed
//! in one pass the first time any call needs them and kept for the life of the store value,
//! keyed by the file's identity (device, inode, size, modification and change times: any write
//! to the file changes its change time), so a listing, a HEAD, a GET and a check of the same
//! file read it once between them. Reading never writes into the folder; the facts reach the
//! folder when the file is adopted (its first tag, hold or copy).

use std::collections::HashMap;
use std::os::unix::fs::FileExt;
use std::sync::Mutex;

use super::*;

/// What the store says about the content of one version without reading it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ContentFacts {
    pub etag: String,
    /// Base64 of the big-endian CRC64NVME, `None` for a generation written before the store kept
    /// it.
    pub crc64nvme: Option<String>,
}

/// The identity of a file's content as the filesystem reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileIdentity {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileIdentity {
    fn of(meta: &fs::Metadata) -> Self {
        FileIdentity {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }
}

/// Facts of plain files computed by this store value, per key.
#[derive(Debug, Default)]
pub(super) struct PlainFacts {
    known: Mutex<HashMap<String, (FileIdentity, ContentFacts)>>,
    /// Full reads made to compute facts (for tests that prove nothing is read twice).
    computed: std::sync::atomic::AtomicUsize,
}

impl PlainFacts {
    pub(super) fn computed(&self) -> usize {
        self.computed.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Folder {
    /// The ETag and CRC64NVME of a resolved version: from its generation's facts, or for a plain
    /// file from what this store value computed before, or computed now (once).
    pub(super) fn content_facts(
        &self,
        key: &str,
        resolved: &Resolved,
    ) -> Result<ContentFacts, StoreError> {
        if let Some((_, facts)) = &resolved.generation {
            return Ok(ContentFacts {
                etag: facts.etag.clone(),
                crc64nvme: facts.checksum_crc64nvme.clone(),
            });
        }
        let io = |e| io_error("HeadObject", Some(key), &self.object_path(key), e);
        let identity = FileIdentity::of(&resolved.file.metadata().map_err(io)?);
        let lock = || self.plain.known.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((known, facts)) = lock().get(key)
            && *known == identity
        {
            return Ok(facts.clone());
        }
        let facts = hash_content(&resolved.file).map_err(io)?;
        self.plain
            .computed
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        lock().insert(key.to_string(), (identity, facts.clone()));
        Ok(facts)
    }
}

/// MD5 and CRC64NVME of a whole file in one pass, read with positioned reads (the file's offset
/// is left alone for a GET that shares it).
pub(super) fn hash_content(file: &File) -> io::Result<ContentFacts> {
    let mut md5 = Md5::new();
    let mut crc = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Nvme);
    let mut buffer = vec![0u8; READ_CHUNK];
    let mut offset = 0u64;
    loop {
        let n = file.read_at(&mut buffer, offset)?;
        if n == 0 {
            break;
        }
        md5.update(&buffer[..n]);
        crc.update(&buffer[..n]);
        offset += n as u64;
    }
    Ok(ContentFacts {
        etag: hex::encode(md5.finalize()),
        crc64nvme: Some(crc64nvme_base64(crc.finalize())),
    })
}

/// A CRC64NVME as S3 shows it: base64 of its 8 big-endian bytes.
pub(super) fn crc64nvme_base64(value: u64) -> String {
    BASE64.encode(value.to_be_bytes())
}
