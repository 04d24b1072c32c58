//! Listing a folder store: the whole listing under a prefix, a page of it in key order (the
//! walk skips every folder that sorts before the page), and every generation of every key
//! (ListObjectVersions on a versioned folder).

use super::*;

impl Folder {
    pub(super) fn list(&self, prefix: &str) -> Result<Vec<ObjectSummary>, StoreError> {
        // Walk only the folder the prefix points into.
        let (dir_part, _) = prefix.rsplit_once('/').unwrap_or(("", prefix));
        let start = if dir_part.is_empty() {
            self.root.clone()
        } else {
            self.root.join(dir_part)
        };
        let mut keys = Vec::new();
        if start.is_dir() {
            collect_files(&self.root, &start, &mut keys)
                .map_err(|e| io_error("ListObjectsV2", None, &start, e))?;
        }
        keys.retain(|k| k.starts_with(prefix));
        keys.sort();
        let mut found = Vec::with_capacity(keys.len());
        for key in keys {
            match self.resolve("ListObjectsV2", &key, None) {
                Ok(resolved) => found.push((key, resolved)),
                // Replaced or removed while listing: S3 listings are not snapshots either.
                Err(e) if e.kind == StoreErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
        }
        // Plain files not seen before are hashed for their ETag here, on every core at once.
        use rayon::prelude::*;
        let summaries = found
            .into_par_iter()
            .map(|(key, resolved)| {
                let etag = self.content_facts(&key, &resolved)?.etag;
                Ok(ObjectSummary {
                    key,
                    size: resolved.size,
                    etag,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(summaries)
    }

    /// One page of the listing: the sorted walk descends only into folders that can hold keys
    /// after `start_after`, and stops once the page is full, so a page costs about its size.
    pub(super) fn list_page(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        max: usize,
    ) -> Result<ListPage, StoreError> {
        let max = max.max(1);
        let (dir_part, _) = prefix.rsplit_once('/').unwrap_or(("", prefix));
        let start = if dir_part.is_empty() {
            self.root.clone()
        } else {
            self.root.join(dir_part)
        };
        let mut keys = Vec::new();
        if start.is_dir() {
            let walk = PageWalk {
                root: &self.root,
                prefix,
                start_after,
                limit: max + 1,
            };
            walk.collect(&start, &mut keys)
                .map_err(|e| io_error("ListObjectsV2", None, &start, e))?;
        }
        let more = keys.len() > max;
        keys.truncate(max);
        let next = more.then(|| keys.last().cloned()).flatten();
        let mut objects = Vec::with_capacity(keys.len());
        for key in keys {
            match self.resolve("ListObjectsV2", &key, None) {
                Ok(resolved) => {
                    let etag = self.content_facts(&key, &resolved)?.etag;
                    objects.push(ObjectSummary {
                        key,
                        size: resolved.size,
                        etag,
                    });
                }
                Err(e) if e.kind == StoreErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(ListPage { objects, next })
    }

    /// Every generation of every key under `prefix` (a versioned folder keeps them all), newest
    /// first per key, the current one marked latest.
    pub(super) fn list_versions(&self, prefix: &str) -> Result<Vec<ObjectVersion>, StoreError> {
        const ACTION: &str = "ListObjectVersions";
        let keys_dir = self.root.join(SIDECAR).join("keys");
        let entries = match fs::read_dir(&keys_dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error(ACTION, None, &keys_dir, e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let dir = entry
                .map_err(|e| io_error(ACTION, None, &keys_dir, e))?
                .path();
            let Ok(key) = fs::read_to_string(dir.join("key.txt")) else {
                continue;
            };
            if !key.starts_with(prefix) {
                continue;
            }
            let current = self.current(ACTION, &key).ok().and_then(|r| r.generation);
            let mut generations: Vec<String> = fs::read_dir(&dir)
                .map_err(|e| io_error(ACTION, Some(&key), &dir, e))?
                .filter_map(|e| {
                    let name = e.ok()?.file_name().into_string().ok()?;
                    let g = name.strip_suffix(".data")?;
                    is_generation_id(g).then(|| g.to_string())
                })
                .collect();
            generations.sort_unstable_by(|a, b| b.cmp(a));
            for g in generations {
                out.push(ObjectVersion {
                    is_latest: current.as_ref().is_some_and(|(c, _)| *c == g),
                    key: key.clone(),
                    version_id: g,
                    delete_marker: false,
                });
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }
}

/// A walk of the folder in key order (a folder sorts as its name and `/`), skipping every
/// folder whose keys all sort at or before `start_after`, stopping at `limit` keys.
struct PageWalk<'a> {
    root: &'a Path,
    prefix: &'a str,
    start_after: Option<&'a str>,
    limit: usize,
}

impl PageWalk<'_> {
    fn collect(&self, dir: &Path, out: &mut Vec<String>) -> io::Result<()> {
        let mut entries = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            if dir == self.root && entry.file_name() == SIDECAR {
                continue;
            }
            let path = entry.path();
            let file_type = entry.file_type()?;
            let Some(key) = path.strip_prefix(self.root).ok().and_then(|r| r.to_str()) else {
                continue;
            };
            if file_type.is_dir() {
                entries.push((format!("{key}/"), true, path));
            } else if file_type.is_file() || (file_type.is_symlink() && path.is_file()) {
                entries.push((key.to_string(), false, path));
            }
        }
        entries.sort();
        for (key, is_dir, path) in entries {
            if out.len() >= self.limit {
                return Ok(());
            }
            if is_dir {
                let related = key.starts_with(self.prefix) || self.prefix.starts_with(&key);
                // Every key under `key` sorts before `after` when `key` does and is not a
                // prefix of it.
                let passed = self
                    .start_after
                    .is_some_and(|after| key.as_str() < after && !after.starts_with(&key));
                if related && !passed {
                    self.collect(&path, out)?;
                }
            } else if key.starts_with(self.prefix)
                && self.start_after.is_none_or(|after| key.as_str() > after)
            {
                out.push(key);
            }
        }
        Ok(())
    }
}
