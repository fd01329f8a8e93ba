//! The wire between a Cordon host and the agent that is PID 1 of each microVM.
//!
//! A VM serves exactly one call. Over one virtio-serial port (named [`PORT_NAME`]) the agent
//! says [`Hello`] once booted; the host sends a [`Request`] (and the command's stdin, if any);
//! the agent answers with the command's stdout, stderr and [`Exit`], then powers the VM off.
//!
//! Every message is a frame: one tag byte, the payload's length as a little-endian `u32`,
//! then the payload (JSON for [`Hello`], [`Request`] and [`Exit`]; raw bytes for the streams).
//! Neither side trusts a length: a frame longer than the reader's limit is an error.

use serde::{Deserialize, Serialize};
use std::io::{self, Read, Write};

/// The virtio-serial port's name, as the guest sees it in `/sys/class/virtio-ports/*/name`.
pub const PORT_NAME: &str = "cordon.agent";

/// The 9p mount tag of the directory the host binds a call's workspace under.
pub const SHARE_TAG: &str = "share";

/// The directory inside the share that a call's workspace is bound onto.
pub const SHARE_WORKSPACE: &str = "workspace";

/// What a frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Tag {
    /// Agent → host, once, when the VM is ready for its call.
    Hello = b'H',
    /// Host → agent: the call.
    Request = b'R',
    /// Host → agent: the command's stdin (only when the request says so).
    Stdin = b'I',
    /// Agent → host: what the command wrote to stdout, up to its cap.
    Stdout = b'O',
    /// Agent → host: what the command wrote to stderr, up to its cap.
    Stderr = b'E',
    /// Agent → host: how the command ended; the last frame.
    Exit = b'X',
}

impl Tag {
    /// The tag a byte on the wire names.
    pub fn from_byte(b: u8) -> Option<Tag> {
        [
            Tag::Hello,
            Tag::Request,
            Tag::Stdin,
            Tag::Stdout,
            Tag::Stderr,
            Tag::Exit,
        ]
        .into_iter()
        .find(|t| *t as u8 == b)
    }
}

/// A frame's header: its tag and the payload's length.
pub fn header(tag: Tag, len: usize) -> io::Result<[u8; 5]> {
    let len = u32::try_from(len).map_err(|_| io::Error::other("frame too long"))?;
    let mut h = [0; 5];
    h[0] = tag as u8;
    h[1..].copy_from_slice(&len.to_le_bytes());
    Ok(h)
}

/// Reads a header, refusing unknown tags and payloads longer than `max`.
pub fn parse_header(h: [u8; 5], max: usize) -> io::Result<(Tag, usize)> {
    let tag = Tag::from_byte(h[0])
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unknown frame tag"))?;
    let len = u32::from_le_bytes([h[1], h[2], h[3], h[4]]) as usize;
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a {tag:?} frame of {len} bytes is over the limit of {max}"),
        ));
    }
    Ok((tag, len))
}

/// Writes one frame.
pub fn write_frame(w: &mut impl Write, tag: Tag, payload: &[u8]) -> io::Result<()> {
    w.write_all(&header(tag, payload.len())?)?;
    w.write_all(payload)?;
    w.flush()
}

/// Reads one frame of at most `max` payload bytes.
pub fn read_frame(r: &mut impl Read, max: usize) -> io::Result<(Tag, Vec<u8>)> {
    let mut h = [0; 5];
    r.read_exact(&mut h)?;
    let (tag, len) = parse_header(h, max)?;
    let mut payload = vec![0; len];
    r.read_exact(&mut payload)?;
    Ok((tag, payload))
}

/// The agent is up: root mounted, port open, ready for its one call.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hello {
    /// Milliseconds since the kernel started (from `/proc/uptime`).
    pub uptime_ms: u64,
    /// The guest kernel's release.
    pub kernel: String,
    /// Whether the share for workspaces is mounted.
    pub share: bool,
}

/// The one call a VM serves.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Request {
    /// The program, a path inside the root image.
    pub program: String,
    /// Its arguments (argv\[1..\]).
    pub args: Vec<String>,
    /// Its whole environment.
    pub env: Vec<(String, String)>,
    /// Whether a [`Tag::Stdin`] frame follows; stdin is closed otherwise.
    pub stdin: bool,
    /// The workspace: `Some(writable)` when the host has bound one into the share.
    pub workspace: Option<bool>,
    /// The deadline, in milliseconds.
    pub timeout_ms: u64,
    /// The command's memory limit (its cgroup's `memory.max`).
    pub memory_bytes: u64,
    /// Processes and threads at once (`pids.max`).
    pub pids: u64,
    /// Cap on each of stdout and stderr.
    pub output_bytes: u64,
    /// The seccomp filter to install before exec, as raw BPF (8 bytes per instruction).
    pub seccomp: Vec<u8>,
}

/// Which limit stopped the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stopped {
    /// It ran past its deadline.
    Deadline,
    /// The OOM killer stopped it at its memory limit.
    Memory,
    /// It tried to start more processes than it may.
    Processes,
    /// It wrote more than its output cap.
    Output,
}

/// How the command ended.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Exit {
    /// Its exit status, when it exited.
    pub code: Option<i32>,
    /// The signal that ended it, when one did.
    pub signal: Option<i32>,
    /// The limit that stopped it, if one did.
    pub stopped: Option<Stopped>,
    /// The most memory its cgroup held.
    pub peak_memory: Option<u64>,
    /// Processes still alive after the final kill (must be 0).
    pub survivors: usize,
    /// Why the agent could not run the command at all, when it could not.
    pub error: Option<String>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_lengths_are_bounded() {
        let mut wire = Vec::new();
        write_frame(&mut wire, Tag::Stdout, b"hello").unwrap();
        let (tag, payload) = read_frame(&mut wire.as_slice(), 16).unwrap();
        assert_eq!((tag, payload.as_slice()), (Tag::Stdout, &b"hello"[..]));
        let err = read_frame(&mut wire.as_slice(), 4).unwrap_err();
        assert!(err.to_string().contains("over the limit"), "{err}");
        let err = read_frame(&mut [b'Z', 0, 0, 0, 0].as_slice(), 4).unwrap_err();
        assert!(err.to_string().contains("unknown frame tag"), "{err}");
    }
}
