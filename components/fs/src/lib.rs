//! The `fs` tool: file operations confined to the call's workspace.
//!
//! The workspace is the first directory the host preopened for the call. This tool does
//! not try to police paths itself: it hands them to the host's filesystem capability,
//! which refuses anything outside the grant (and ends the call with `path_escape`). That
//! keeps one enforcement point, in the host, where it cannot be bypassed by a buggy tool.

wit_bindgen::generate!({
    path: ["../../wit", "wit"],
    world: "cordon:fs/fs@0.1.0",
    generate_all,
});

use cordon::tool::logging::{Level, log};
use std::fs;
use std::io::Write;
use std::path::Path;

use exports::files::{Entry, EntryKind, FileStat, Guest, SearchMatch};

struct Fs;

export!(Fs);

const DEFAULT_MAX_RESULTS: u32 = 100;
const MAX_LINE_CHARS: usize = 500;

/// Guest path of the workspace: the first preopened directory.
fn workspace() -> Result<String, String> {
    wasip2::filesystem::preopens::get_directories()
        .into_iter()
        .next()
        .map(|(_, path)| path)
        .ok_or_else(|| "no workspace granted: pass a directory grant (e.g. --dir ./ws:/ws)".into())
}

/// Maps a workspace-relative path to the guest path the preopen serves. A leading `/` is
/// the workspace root, as in a chroot. `..` is passed through untouched for the host to
/// judge.
fn resolve(path: &str) -> Result<String, String> {
    let ws = workspace()?;
    let rel = path.trim_start_matches('/');
    if rel.is_empty() || rel == "." {
        return Ok(ws);
    }
    Ok(format!("{}/{}", ws.trim_end_matches('/'), rel))
}

fn kind_of(ft: fs::FileType) -> EntryKind {
    if ft.is_symlink() {
        EntryKind::Symlink
    } else if ft.is_dir() {
        EntryKind::Directory
    } else if ft.is_file() {
        EntryKind::File
    } else {
        EntryKind::Other
    }
}

fn describe(path: &str, e: std::io::Error) -> String {
    format!("{path}: {e}")
}

impl Guest for Fs {
    fn read_file(path: String) -> Result<String, String> {
        let full = resolve(&path)?;
        let bytes = fs::read(&full).map_err(|e| describe(&path, e))?;
        String::from_utf8(bytes).map_err(|_| format!("{path}: not a UTF-8 text file"))
    }

    fn write_file(path: String, contents: String, append: Option<bool>) -> Result<u64, String> {
        let full = resolve(&path)?;
        let mut file = fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(append.unwrap_or(false))
            .truncate(!append.unwrap_or(false))
            .open(&full)
            .map_err(|e| describe(&path, e))?;
        file.write_all(contents.as_bytes())
            .map_err(|e| describe(&path, e))?;
        log(
            Level::Info,
            "wrote file",
            &[("path".into(), path), ("bytes".into(), contents.len().to_string())],
        );
        Ok(contents.len() as u64)
    }

    fn list_dir(path: String) -> Result<Vec<Entry>, String> {
        let full = resolve(&path)?;
        let mut entries = Vec::new();
        for entry in fs::read_dir(&full).map_err(|e| describe(&path, e))? {
            let entry = entry.map_err(|e| describe(&path, e))?;
            let meta = entry.metadata().map_err(|e| describe(&path, e))?;
            let kind = kind_of(meta.file_type());
            entries.push(Entry {
                name: entry.file_name().to_string_lossy().into_owned(),
                size: if kind == EntryKind::Directory { 0 } else { meta.len() },
                kind,
            });
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    fn stat(path: String) -> Result<FileStat, String> {
        let full = resolve(&path)?;
        let meta = fs::symlink_metadata(&full).map_err(|e| describe(&path, e))?;
        Ok(FileStat {
            kind: kind_of(meta.file_type()),
            size: meta.len(),
            modified: meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_secs()),
            readonly: meta.permissions().readonly(),
        })
    }

    fn search(
        pattern: String,
        path: Option<String>,
        regex: Option<bool>,
        max_results: Option<u32>,
    ) -> Result<Vec<SearchMatch>, String> {
        let matcher: Box<dyn Fn(&str) -> bool> = if regex.unwrap_or(false) {
            let re = regex_lite::Regex::new(&pattern)
                .map_err(|e| format!("invalid regular expression: {e}"))?;
            Box::new(move |line| re.is_match(line))
        } else {
            Box::new(move |line| line.contains(pattern.as_str()))
        };
        let root_rel = path.unwrap_or_default();
        let root = resolve(&root_rel)?;
        let ws = workspace()?;
        let limit = max_results.unwrap_or(DEFAULT_MAX_RESULTS) as usize;
        let mut found = Vec::new();
        let mut stack = vec![root];
        while let Some(dir) = stack.pop() {
            let meta = fs::symlink_metadata(&dir).map_err(|e| describe(&dir, e))?;
            if meta.is_file() {
                search_file(&dir, &ws, &matcher, limit, &mut found);
                continue;
            }
            let mut children: Vec<_> = fs::read_dir(&dir)
                .map_err(|e| describe(&dir, e))?
                .filter_map(Result::ok)
                .collect();
            children.sort_by_key(|e| std::cmp::Reverse(e.file_name()));
            for child in children {
                let Ok(ft) = child.file_type() else { continue };
                let p = child.path().to_string_lossy().into_owned();
                if ft.is_dir() {
                    stack.push(p);
                } else if ft.is_file() {
                    search_file(&p, &ws, &matcher, limit, &mut found);
                }
                if found.len() >= limit {
                    return Ok(found);
                }
            }
        }
        Ok(found)
    }
}

fn search_file(
    path: &str,
    ws: &str,
    matcher: &dyn Fn(&str) -> bool,
    limit: usize,
    found: &mut Vec<SearchMatch>,
) {
    // Binary or unreadable files are skipped rather than failing the whole search.
    let Ok(text) = fs::read_to_string(path) else { return };
    let rel = Path::new(path)
        .strip_prefix(ws)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| path.to_owned());
    for (i, line) in text.lines().enumerate() {
        if found.len() >= limit {
            return;
        }
        if matcher(line) {
            found.push(SearchMatch {
                path: rel.clone(),
                line: (i + 1) as u32,
                text: line.chars().take(MAX_LINE_CHARS).collect(),
            });
        }
    }
}
