//! How the guard learns that its parent is leaving or gone.

use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::unistd::{getppid, Pid};

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Ending {
    /// One byte on stdin: the parent is leaving the cluster itself.
    CleanLeave,
    /// The parent is gone, and so are its locks.
    Died,
}

/// A closed stdin alone is not enough: the kernel closes a dying process's files one by
/// one, so the pipe may report EOF while the parent's `flock` is still held, and the guard
/// would then wrongly find it is not the last user.
///
/// On Linux (≥ 5.3) a pidfd becomes readable only once every thread of the parent has
/// exited, its files released. Elsewhere (macOS, or an older kernel), being re-parented
/// tells it: portable, and immune to pid reuse (unlike polling `kill(pid, 0)`), but a
/// little early when the parent had threads, so we then give the kernel a moment.
pub(super) enum ParentDeath {
    #[cfg(target_os = "linux")]
    Pidfd(std::os::fd::OwnedFd),
    Reparenting(Pid),
}

impl ParentDeath {
    pub(super) fn watch(parent: Pid) -> ParentDeath {
        #[cfg(target_os = "linux")]
        if let Some(fd) = pidfd_open(parent) {
            // Still our parent after the pidfd was opened: then it is not a recycled pid.
            if getppid() == parent {
                return ParentDeath::Pidfd(fd);
            }
        }
        ParentDeath::Reparenting(parent)
    }

    fn pidfd(&self) -> Option<BorrowedFd<'_>> {
        match self {
            #[cfg(target_os = "linux")]
            ParentDeath::Pidfd(fd) => Some(fd.as_fd()),
            ParentDeath::Reparenting(_) => None,
        }
    }

    /// Blocks until the parent asks us to stand down or has exited.
    pub(super) fn wait(&self) -> Ending {
        let stdin = std::io::stdin();
        let pidfd = self.pidfd();
        let mut stdin_open = true;
        loop {
            if self.reparented() {
                return Ending::Died;
            }
            let mut fds: Vec<PollFd<'_>> = pidfd
                .into_iter()
                .map(|fd| PollFd::new(fd, PollFlags::POLLIN))
                .collect();
            let stdin_at = stdin_open.then(|| {
                fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
                fds.len() - 1
            });
            if fds.is_empty() {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
            // EINTR counts as not ready.
            if !poll(&mut fds, PollTimeout::from(200u16)).is_ok_and(|ready| ready > 0) {
                continue;
            }
            if pidfd.is_some() && is_ready(&fds[0]) {
                return Ending::Died;
            }
            if stdin_at.is_some_and(|at| is_ready(&fds[at])) {
                if let Ok(1) = nix::unistd::read(&stdin, &mut [0u8; 1]) {
                    return Ending::CleanLeave;
                }
                // EOF: the parent is exiting; keep waiting until it has.
                stdin_open = false;
            }
        }
    }

    fn reparented(&self) -> bool {
        let parent = match self {
            #[cfg(target_os = "linux")]
            ParentDeath::Pidfd(_) => return false,
            ParentDeath::Reparenting(parent) => *parent,
        };
        if getppid() == parent {
            return false;
        }
        std::thread::sleep(Duration::from_millis(250));
        true
    }
}

fn is_ready(fd: &PollFd<'_>) -> bool {
    fd.revents().is_some_and(|events| !events.is_empty())
}

/// A pidfd for `pid`, None where the kernel has none (before 5.3).
#[cfg(target_os = "linux")]
fn pidfd_open(pid: Pid) -> Option<std::os::fd::OwnedFd> {
    let pid = rustix::process::Pid::from_raw(pid.as_raw())?;
    rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok()
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_pidfd_of_a_live_process_is_not_ready_and_of_an_exited_one_is() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = Pid::from_raw(child.id() as i32);
        let fd = pidfd_open(pid).expect("a kernel with pidfd_open");
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        assert_eq!(poll(&mut fds, PollTimeout::ZERO).unwrap(), 0);
        child.kill().unwrap();
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        assert_eq!(poll(&mut fds, PollTimeout::from(5000u16)).unwrap(), 1);
        child.wait().unwrap();
    }
}
