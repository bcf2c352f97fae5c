//! Where io_uring is refused (Docker's and Podman's default seccomp
//! profiles answer its system calls with EPERM), the server runs on epoll,
//! says so in one line with how to allow io_uring, and serves TCP and
//! WebSocket clients. The refusal is made here the way those profiles make
//! it: a seccomp filter on the server's process, without a container.

mod common;

use common::{Io, Raw, Start};

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod filter {
    /// io_uring_setup, io_uring_enter, io_uring_register: the same numbers
    /// on x86_64 and aarch64.
    const IO_URING: [u32; 3] = [425, 426, 427];

    /// Installs a filter answering the io_uring system calls with EPERM,
    /// as container runtimes' default profiles do; everything else runs.
    pub fn refuse_io_uring() -> std::io::Result<()> {
        const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
        const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
        const RET_K: u16 = 0x06; // BPF_RET | BPF_K
        const ALLOW: u32 = 0x7fff_0000; // SECCOMP_RET_ALLOW
        const EPERM: u32 = 0x0005_0000 | libc::EPERM as u32; // SECCOMP_RET_ERRNO
        let op = |code, jt, jf, k| libc::sock_filter { code, jt, jf, k };
        // Load the system call number (offset 0 of seccomp_data); each
        // io_uring one jumps to the EPERM return at the end.
        let program = [
            op(LD_W_ABS, 0, 0, 0),
            op(JEQ_K, 3, 0, IO_URING[0]),
            op(JEQ_K, 2, 0, IO_URING[1]),
            op(JEQ_K, 1, 0, IO_URING[2]),
            op(RET_K, 0, 0, ALLOW),
            op(RET_K, 0, 0, EPERM),
        ];
        let prog = libc::sock_fprog {
            len: program.len() as u16,
            filter: program.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: plain system calls on this process with valid arguments;
        // `program` outlives them.
        unsafe {
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &prog) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[tokio::test]
async fn refused_io_uring_falls_back_to_epoll_and_serves() {
    let server = Start::new(Io::Auto)
        .config("websocket { host: 127.0.0.1, port: -1, no_tls: true }\n")
        .pre_exec(filter::refuse_io_uring)
        .start();
    let line = server.wait_for_log("io_uring is not available");
    assert!(line.contains("Operation not permitted"), "{line}");
    assert!(line.contains("running on epoll"), "{line}");
    assert!(line.contains("docker/seccomp-io_uring.json"), "{line}");
    // TCP and WebSocket clients are served, and reach each other.
    let tcp = async_nats::connect(server.url()).await.unwrap();
    let ws = async_nats::connect(server.ws_url()).await.unwrap();
    let mut sub = ws.subscribe("x").await.unwrap();
    // A message to itself: the subscription is in place (async-nats's
    // flush alone does not promise that, against nats-server either).
    common::sync(&ws).await;
    tcp.publish("x", "over epoll".into()).await.unwrap();
    assert_eq!(&common::next(&mut sub).await.payload[..], b"over epoll");
    let (mut raw, info) = Raw::connect(&server);
    assert!(info.starts_with("INFO {"));
    raw.send(b"CONNECT {\"verbose\":false}\r\nPING\r\n");
    assert_eq!(raw.line(), "PONG");
    // Asked for io_uring outright, the start fails and says why.
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new(common::binary());
    cmd.args(["--io", "uring", "-a", "127.0.0.1", "-p", "-1"]);
    // SAFETY: the filter makes system calls only.
    unsafe {
        cmd.pre_exec(filter::refuse_io_uring);
    }
    let out = cmd.output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("io_uring was asked for but is not available"),
        "{stderr}"
    );
}
