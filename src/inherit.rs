//! Handing one child process a descriptor: an anonymous memory file with contents only
//! that child reads, kept from every other child Flotilla starts.
//!
//! Both users pass what must not be in an argument list (world-readable through
//! `/proc/<pid>/cmdline`): git's credential (`workspace::auth`) and bubblewrap's own
//! arguments, which name host paths an agent must not learn (`sandbox`, `--args`).

use std::ffi::CStr;
use std::fs::File;
use std::io::{self, Seek, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use tokio::process::Command;

/// A close-on-exec anonymous memory file named `name` holding `contents`, read from
/// its start, on a descriptor above 2 (descriptors 0–2 are replaced by the child's
/// stdio before it could inherit one).
pub(crate) fn memory_file(name: &CStr, contents: &[u8]) -> io::Result<OwnedFd> {
    // SAFETY: `name` is NUL-terminated; memfd_create returns a new descriptor or -1.
    let raw = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh descriptor that nothing else owns.
    let mut fd = unsafe { OwnedFd::from_raw_fd(raw) };
    if raw <= 2 {
        // SAFETY: F_DUPFD_CLOEXEC duplicates a descriptor we own onto the lowest free
        // number >= 3 and returns it or -1.
        let high = unsafe { libc::fcntl(raw, libc::F_DUPFD_CLOEXEC, 3) };
        if high < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `high` is a fresh descriptor that nothing else owns.
        fd = unsafe { OwnedFd::from_raw_fd(high) };
    }
    let mut file = File::from(fd);
    file.write_all(contents)?;
    file.rewind()?;
    Ok(OwnedFd::from(file))
}

/// Has the child of `command` keep `fd` across exec. The descriptor is close-on-exec in
/// Flotilla, so children spawned concurrently by other threads never get it; only this
/// child clears the flag on its own copy, between fork and exec. The caller keeps `fd`
/// open until the command is spawned, then drops it.
pub(crate) fn inherit_in_child(command: &mut Command, fd: &OwnedFd) {
    let fd = fd.as_raw_fd();
    // SAFETY: the closure runs in the forked child and calls only fcntl, which is
    // async-signal-safe; it neither allocates nor takes a lock.
    unsafe {
        command.pre_exec(move || {
            if libc::fcntl(fd, libc::F_SETFD, 0) == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}
