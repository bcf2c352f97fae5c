//! Is io_uring usable here? Docker's and Podman's default seccomp profiles
//! refuse its system calls, and hosts can set `kernel.io_uring_disabled`;
//! `tokio_uring::start` panics in those cases, so we try a small ring first.

/// `Ok(())` when a ring can be created, else the reason it cannot.
pub fn io_uring_available() -> Result<(), String> {
    let _one_at_a_time = super::uring::ring_setup();
    match io_uring::IoUring::new(8) {
        Ok(_) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}
