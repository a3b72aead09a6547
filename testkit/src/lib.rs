//! The unsafe calls pbconnector's tests and benchmarks need, in one small crate of their own so
//! that `pbconnector` and `pbconnector-simulators` can forbid unsafe code in every target (their
//! `[lints]` tables apply to tests and benchmarks too). A dev-dependency only: nothing here is in
//! the operator's binary.

pub mod alloc;

use std::process::Command;

/// Makes the child `cmd` spawns receive SIGKILL when the spawning thread ends
/// (`PR_SET_PDEATHSIG`), so control-plane processes a test starts die with the test binary.
pub fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec; prctl is async-signal-safe and
    // touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Gives the child `cmd` spawns the default SIGINT disposition. A process started with SIGINT
/// ignored (a background job of a non-interactive shell is) passes that on through `exec`, and
/// Python then never raises `KeyboardInterrupt`: `interrupt` would not stop the child.
pub fn default_sigint(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec; signal is async-signal-safe and
    // touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            if libc::signal(libc::SIGINT, libc::SIG_DFL) == libc::SIG_ERR {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Sends SIGINT to the process `pid` (a child of this process), as Ctrl-C would.
pub fn interrupt(pid: u32) -> std::io::Result<()> {
    let pid = libc::pid_t::try_from(pid)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "pid out of range"))?;
    // SAFETY: kill takes plain integers and touches no memory.
    if unsafe { libc::kill(pid, libc::SIGINT) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// CPU seconds (user + system) this process used so far.
pub fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the struct it is given; zeroed is a valid initial value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF with a valid pointer.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`): the unit of the CPU times in
/// `/proc/PID/stat`.
pub fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf takes an integer and touches no memory.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    assert!(ticks > 0, "sysconf(_SC_CLK_TCK) failed");
    ticks as f64
}

#[cfg(test)]
mod tests {
    #[test]
    fn cpu_time_grows() {
        let before = super::cpu_seconds();
        let mut x = 0u64;
        let start = std::time::Instant::now();
        while start.elapsed() < std::time::Duration::from_millis(50) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        assert!(super::cpu_seconds() > before, "{x}");
    }
}
