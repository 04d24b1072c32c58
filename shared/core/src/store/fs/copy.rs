//! CopyObject onto the same key: a new generation with replaced metadata, copied in parts
//! above the multipart threshold so that the ETag and composite checksum are S3's.

use super::*;

impl Folder {
    pub(super) fn copy_in_place(&self, request: &CopyInPlace) -> Result<CopyOutcome, StoreError> {
        const ACTION: &str = "CopyObject";
        let key = request.key.as_str();
        let source = self.resolve(ACTION, key, request.version_id.as_deref())?;
        // On a versioned folder a plain file is the `null` version: adopt it first, so that it
        // stays readable (and can be held) as S3 keeps a null version under a newer one.
        let source = if self.config.versioned && source.generation.is_none() {
            self.adopt(ACTION, key, source)?;
            self.resolve(ACTION, key, Some("null"))?
        } else {
            source
        };
        let dir = self.prepare_key_dir(ACTION, key)?;
        let generation = new_generation_id();
        let outcome = self.copy_to_generation(request, source, &dir, &generation);
        if outcome.is_err() {
            self.forget_generation(key, &generation);
        }
        outcome
    }

    pub(super) fn copy_to_generation(
        &self,
        request: &CopyInPlace,
        mut source: Resolved,
        dir: &Path,
        generation: &str,
    ) -> Result<CopyOutcome, StoreError> {
        const ACTION: &str = "CopyObject";
        let key = request.key.as_str();
        let source_tags = match &source.generation {
            Some((generation, _)) => self.read_tags(key, generation)?,
            None => Vec::new(),
        };
        let (content_type, had_sha256) = match &source.generation {
            Some((_, facts)) => (facts.content_type.clone(), facts.checksum_sha256.is_some()),
            None => (None, false),
        };
        let multipart = source.size > request.multipart_threshold;
        let part_size = if multipart {
            request.effective_part_size(source.size)
        } else {
            source.size.max(1)
        };
        let data = dir.join(format!("{generation}.data"));
        let io = |e| io_error(ACTION, Some(key), dir, e);
        source.file.seek(SeekFrom::Start(0)).map_err(io)?;
        let (parts, crc64nvme) =
            copy_in_parts(&mut source.file, dir, &data, part_size).map_err(io)?;
        let (etag, checksum, parts_count) = if multipart {
            let mut md5s = Md5::new();
            let mut shas = Sha256::new();
            for part in &parts {
                md5s.update(&part.md5);
                shas.update(part.sha256);
            }
            let n = parts.len();
            (
                format!("{}-{n}", hex::encode(md5s.finalize())),
                had_sha256.then(|| format!("{}-{n}", BASE64.encode(shas.finalize()))),
                Some(n as u32),
            )
        } else {
            let part = parts.first().copied().unwrap_or_else(PartDigest::empty);
            (
                hex::encode(part.md5),
                had_sha256.then(|| BASE64.encode(part.sha256)),
                None,
            )
        };
        let facts = GenerationFacts {
            size: source.size,
            etag: etag.clone(),
            last_modified: Utc::now(),
            content_type,
            metadata: lower_case_keys(&request.metadata),
            checksum_sha256: checksum,
            checksum_crc64nvme: Some(crc64nvme_base64(crc64nvme)),
            parts_count,
            null_version: false,
        };
        write_atomically(
            dir,
            &dir.join(format!("{generation}.json")),
            &serde_json::to_vec(&facts).expect("facts serialize"),
        )
        .map_err(io)?;
        if !source_tags.is_empty() {
            let body = serde_json::to_vec(
                &source_tags
                    .iter()
                    .map(|t| (t.key.clone(), t.value.clone()))
                    .collect::<BTreeMap<_, _>>(),
            )
            .expect("tags serialize");
            write_atomically(dir, &dir.join(format!("{generation}.tags.json")), &body)
                .map_err(io)?;
        }
        self.publish(ACTION, key, generation, PutCondition::None)?;
        Ok(CopyOutcome {
            version_id: self.reported_version(Some(generation)),
            etag,
            multipart,
        })
    }
}

#[derive(Clone, Copy)]
struct PartDigest {
    md5: [u8; 16],
    sha256: [u8; 32],
}

impl PartDigest {
    fn empty() -> Self {
        PartDigest {
            md5: Md5::digest(b""),
            sha256: Sha256::digest(b"").into(),
        }
    }
}

/// Copies `source` into a new file at `target`, returning the MD5 and SHA-256 of each part and
/// the CRC64NVME of the whole.
fn copy_in_parts(
    source: &mut File,
    dir: &Path,
    target: &Path,
    part_size: u64,
) -> io::Result<(Vec<PartDigest>, u64)> {
    let mut crc = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Nvme);
    let staged = staging_path(dir);
    let mut out = File::create(&staged)?;
    let mut parts = Vec::new();
    let mut buffer = vec![0u8; READ_CHUNK];
    loop {
        let mut md5 = Md5::new();
        let mut sha = Sha256::new();
        let mut in_part = 0u64;
        while in_part < part_size {
            let want = (part_size - in_part).min(buffer.len() as u64) as usize;
            let n = source.read(&mut buffer[..want])?;
            if n == 0 {
                break;
            }
            md5.update(&buffer[..n]);
            sha.update(&buffer[..n]);
            crc.update(&buffer[..n]);
            out.write_all(&buffer[..n])?;
            in_part += n as u64;
        }
        if in_part == 0 && !parts.is_empty() {
            break;
        }
        parts.push(PartDigest {
            md5: md5.finalize(),
            sha256: sha.finalize().into(),
        });
        if in_part < part_size {
            break;
        }
    }
    out.sync_all()?;
    drop(out);
    fs::rename(&staged, target).inspect_err(|_| {
        let _ = fs::remove_file(&staged);
    })?;
    Ok((parts, crc.finalize()))
}
