//! Writing a folder store: new generations, publishing them onto the key (atomic rename, or
//! create-only `link(2)`), adopting plain files, and collecting superseded generations.

use super::*;

impl Folder {
    /// Makes sure a version has a generation (adopting a plain file by hard-linking it) and
    /// returns its id.
    pub(super) fn adopt(
        &self,
        action: &'static str,
        key: &str,
        resolved: Resolved,
    ) -> Result<String, StoreError> {
        if let Some((generation, _)) = resolved.generation {
            return Ok(generation);
        }
        let content = self.content_facts(key, &resolved)?;
        let dir = self.prepare_key_dir(action, key)?;
        let io = |e| io_error(action, Some(key), &dir, e);
        let held = resolved.file.metadata().map_err(io)?;
        // Named after the file itself, so that concurrent adopters of one file agree on it.
        let generation = adopted_generation_id(&held);
        let facts = GenerationFacts {
            size: resolved.size,
            etag: content.etag,
            last_modified: resolved.mtime,
            content_type: None,
            metadata: BTreeMap::new(),
            checksum_sha256: None,
            checksum_crc64nvme: content.crc64nvme,
            parts_count: None,
            null_version: true,
        };
        write_atomically(
            &dir,
            &dir.join(format!("{generation}.json")),
            &serde_json::to_vec(&facts).expect("facts serialize"),
        )
        .map_err(io)?;
        let data = dir.join(format!("{generation}.data"));
        let linked_here = match fs::hard_link(self.object_path(key), &data) {
            Ok(()) => true,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => false,
            Err(e) => return Err(io(e)),
        };
        let linked = fs::metadata(&data).map_err(io)?;
        if (held.dev(), held.ino()) != (linked.dev(), linked.ino()) {
            if linked_here {
                let _ = fs::remove_file(&data);
                let _ = fs::remove_file(dir.join(format!("{generation}.json")));
            }
            return Err(StoreError::new(
                StoreErrorKind::Transient,
                action,
                format!("{key} was replaced while it was being adopted; retry"),
            )
            .with_key(key));
        }
        self.retire_superseded(key, &generation);
        Ok(generation)
    }

    /// Writes a replaceable part of a generation's state (its tags or legal hold). When the
    /// generation was replaced and collected meanwhile, the write applied to a version that no
    /// longer exists, as on an unversioned bucket: the file is removed again.
    pub(super) fn write_generation_state(
        &self,
        action: &'static str,
        key: &str,
        generation: &str,
        suffix: &str,
        body: &[u8],
    ) -> Result<(), StoreError> {
        let dir = self.key_dir(key);
        let path = dir.join(format!("{generation}.{suffix}"));
        write_atomically(&dir, &path, body).map_err(|e| io_error(action, Some(key), &dir, e))?;
        if !dir.join(format!("{generation}.data")).exists() {
            let _ = fs::remove_file(&path);
        }
        Ok(())
    }

    pub(super) fn put(&self, request: &PutRequest) -> Result<PutOutcome, StoreError> {
        const ACTION: &str = "PutObject";
        let key = request.key.as_str();
        validate_key(ACTION, key)?;
        if request.condition == PutCondition::IfNoneMatch && self.object_path(key).is_file() {
            return Ok(PutOutcome::AlreadyExists);
        }
        let dir = self.prepare_key_dir(ACTION, key)?;
        let generation = new_generation_id();
        let outcome = self.write_and_publish(&dir, &generation, request);
        if !matches!(outcome, Ok(PutOutcome::Created { .. })) {
            // Never published (or lost a create-only race): nobody else will ever use it.
            self.forget_generation(key, &generation);
        }
        outcome
    }

    /// Unpublishes the key's current generation (removes `ROOT/<key>`). On an unversioned folder
    /// the generations it leaves behind are collected; on a versioned one they are kept, as S3
    /// keeps the versions behind a delete marker.
    pub(super) fn delete(&self, key: &str) -> Result<(), StoreError> {
        const ACTION: &str = "DeleteObject";
        validate_key(ACTION, key)?;
        let path = self.object_path(key);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_error(ACTION, Some(key), &path, e)),
        }
        if !self.config.versioned {
            self.collect_generations(key);
        }
        Ok(())
    }

    pub(super) fn write_and_publish(
        &self,
        dir: &Path,
        generation: &str,
        request: &PutRequest,
    ) -> Result<PutOutcome, StoreError> {
        const ACTION: &str = "PutObject";
        let key = request.key.as_str();
        let io = |e| io_error(ACTION, Some(key), dir, e);
        let data = dir.join(format!("{generation}.data"));
        write_atomically(dir, &data, &request.body).map_err(io)?;
        let facts = GenerationFacts {
            size: request.body.len() as u64,
            etag: hex::encode(Md5::digest(&request.body)),
            last_modified: Utc::now(),
            content_type: request.content_type.clone(),
            metadata: lower_case_keys(&request.metadata),
            checksum_sha256: request
                .checksum_sha256
                .then(|| BASE64.encode(Sha256::digest(&request.body))),
            checksum_crc64nvme: Some(crc64nvme_base64(crc_fast::crc64_nvme(&request.body))),
            parts_count: None,
            null_version: false,
        };
        write_atomically(
            dir,
            &dir.join(format!("{generation}.json")),
            &serde_json::to_vec(&facts).expect("facts serialize"),
        )
        .map_err(io)?;
        if !self.publish(ACTION, key, generation, request.condition)? {
            return Ok(PutOutcome::AlreadyExists);
        }
        Ok(PutOutcome::Created {
            version_id: self.reported_version(Some(generation)),
            etag: facts.etag,
        })
    }

    /// Makes a written generation the current content of the key. Returns false when a
    /// create-only publish found the key taken.
    pub(super) fn publish(
        &self,
        action: &'static str,
        key: &str,
        generation: &str,
        condition: PutCondition,
    ) -> Result<bool, StoreError> {
        let dir = self.key_dir(key);
        let data = dir.join(format!("{generation}.data"));
        let target = self.object_path(key);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(|e| {
                let conflict = matches!(
                    e.kind(),
                    io::ErrorKind::AlreadyExists | io::ErrorKind::NotADirectory
                );
                if conflict {
                    StoreError::new(
                        StoreErrorKind::InvalidRequest,
                        action,
                        format!(
                            "{key} needs {} to be a folder, but it is an object",
                            parent.display()
                        ),
                    )
                    .with_key(key)
                } else {
                    io_error(action, Some(key), parent, e)
                }
            })?;
        }
        if target.is_dir() {
            return Err(StoreError::new(
                StoreErrorKind::InvalidRequest,
                action,
                format!("{} is a folder of other objects", target.display()),
            )
            .with_key(key));
        }
        match condition {
            PutCondition::IfNoneMatch => match fs::hard_link(&data, &target) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(false),
                Err(e) => return Err(io_error(action, Some(key), &target, e)),
            },
            PutCondition::None => {
                let staged = dir.join(format!("{generation}.publish"));
                fs::hard_link(&data, &staged)
                    .and_then(|_| fs::rename(&staged, &target))
                    .map_err(|e| {
                        let _ = fs::remove_file(&staged);
                        io_error(action, Some(key), &target, e)
                    })?;
            }
        }
        sync_dir(target.parent().unwrap_or(&self.root));
        self.retire_superseded(key, generation);
        Ok(true)
    }

    /// On an unversioned folder, called once `generation` has been published (or adopted):
    /// records that it is finished and removes every finished generation that is no longer
    /// current, so an overwrite leaves nothing of the older ones.
    ///
    /// Only finished generations are removed: another writer's generation that is still being
    /// written or is about to be published is left alone, whatever its id. A finished generation
    /// that is not current has been replaced for good (each generation is published once), so
    /// whichever writer collects last removes it. Removal races with other collectors and readers
    /// are benign: files already gone are skipped, and readers retry when a generation vanishes.
    pub(super) fn retire_superseded(&self, key: &str, generation: &str) {
        if self.config.versioned {
            return;
        }
        let dir = self.key_dir(key);
        // Best effort: a generation left unmarked is collected once it is abandoned.
        let _ = File::create(dir.join(format!("{generation}.{FINISHED}")));
        self.collect_generations(key);
    }

    pub(super) fn collect_generations(&self, key: &str) {
        let dir = self.key_dir(key);
        let Ok(entries) = fs::read_dir(&dir) else {
            return;
        };
        let mut finished = Vec::new();
        let mut unfinished: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
        let mut stray = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some((stem, suffix)) = name.split_once('.') else {
                continue;
            };
            if is_generation_id(stem) {
                match suffix {
                    FINISHED => finished.push(stem.to_string()),
                    "data" | "json" => unfinished
                        .entry(stem.to_string())
                        .or_default()
                        .push(entry.path()),
                    "publish" => stray.push(entry.path()),
                    _ => {}
                }
            } else if name.starts_with(STAGING_PREFIX) {
                stray.push(entry.path());
            }
        }
        // The key is read after the markers: a generation marked before is current now or
        // replaced for good.
        let Ok(current) = fs::metadata(self.object_path(key)) else {
            return;
        };
        let is_current = |generation: &str| {
            fs::metadata(dir.join(format!("{generation}.data")))
                .is_ok_and(|data| (data.dev(), data.ino()) == (current.dev(), current.ino()))
        };
        for generation in &finished {
            unfinished.remove(generation);
            if !is_current(generation) {
                self.forget_generation(key, generation);
            }
        }
        // Left behind by a writer that stopped half-way (or by a version of this store that kept
        // no markers).
        for (generation, paths) in unfinished {
            if paths.iter().all(|p| is_abandoned(p)) && !is_current(&generation) {
                self.forget_generation(key, &generation);
            }
        }
        for path in stray {
            if is_abandoned(&path) {
                let _ = fs::remove_file(path);
            }
        }
    }

    /// Removes every file of a generation; the marker goes last, so that an interrupted removal
    /// is finished by the next collection.
    pub(super) fn forget_generation(&self, key: &str, generation: &str) {
        let dir = self.key_dir(key);
        for suffix in ["data", "json", "tags.json", "hold", FINISHED] {
            let _ = fs::remove_file(dir.join(format!("{generation}.{suffix}")));
        }
    }
}
