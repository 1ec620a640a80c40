//! The socket Terraform talks to the provider on, without Nagle's algorithm.
//!
//! tf-provider opens the gRPC listener itself and leaves Nagle's algorithm on for the
//! connections it accepts. A response written in more than one piece (headers, message,
//! trailers) then waits for Terraform to acknowledge the first piece, and Terraform delays
//! its acknowledgements: about 40 ms on most calls (GetProviderSchema at every provider
//! start, ValidateResourceConfig, ...), which was most of a `terraform plan`'s time beyond its
//! AWS calls. Terraform's side (Go) turns it off; tf-provider 0.2.2 (the latest) offers no way
//! to.
//!
//! Linux and the BSDs copy TCP_NODELAY from a listening socket to the connections it accepts,
//! and Terraform connects only after reading the handshake line the provider prints on stdout
//! (`1|6|tcp|127.0.0.1:PORT|grpc|CERT`). So until that line, stdout is a pipe: a thread reads
//! the line, sets TCP_NODELAY on the listener at the address it names, puts stdout back and
//! passes the line on. If anything in that fails, the line still goes through unchanged: the
//! provider is then only slower, never broken.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// Sends stdout through the handshake relay (see the module). Call once, before the provider
/// prints its handshake; returns without doing anything if stdout cannot be redirected.
pub fn nodelay_after_handshake() {
    let Ok((read, write)) = rustix::pipe::pipe() else {
        return;
    };
    let Ok(saved) = rustix::io::dup(std::io::stdout()) else {
        return;
    };
    if rustix::stdio::dup2_stdout(&write).is_err() {
        return;
    }
    // fd 1 is now the pipe's only write end: once stdout is put back, the relay reads EOF.
    drop(write);
    std::thread::spawn(move || relay(read, saved));
}

/// Reads the handshake line from the pipe, sets TCP_NODELAY on the listener it names, restores
/// stdout, then passes on the line and anything written after it.
fn relay(read: OwnedFd, saved: OwnedFd) {
    let mut pipe = BufReader::new(std::fs::File::from(read));
    let mut line = String::new();
    let _ = pipe.read_line(&mut line);
    if let Some(addr) = handshake_address(&line) {
        let _ = set_nodelay_on_listener(addr);
    }
    let _ = rustix::stdio::dup2_stdout(&saved);
    let mut out = std::fs::File::from(saved);
    let _ = out.write_all(line.as_bytes());
    let _ = out.flush();
    let _ = std::io::copy(&mut pipe, &mut out);
}

/// The address in a go-plugin handshake line: `CORE|APP|tcp|ADDR|grpc[|CERT]`.
fn handshake_address(line: &str) -> Option<SocketAddr> {
    let mut fields = line.trim_end().split('|');
    let network = fields.nth(2)?;
    let addr = fields.next()?;
    (network == "tcp").then(|| addr.parse().ok())?
}

/// Finds this process's listening socket bound to `addr` and turns Nagle's algorithm off on
/// it (and so on every connection it accepts from now on). Returns whether one was found.
fn set_nodelay_on_listener(addr: SocketAddr) -> bool {
    // The provider holds a few dozen descriptors at this point; 4096 covers any limit in use.
    for raw in 3..4096 {
        // SAFETY: the descriptor is only borrowed for the calls below, each of which fails
        // harmlessly (EBADF, ENOTSOCK) if it is not an open socket; nothing closes it.
        let fd = unsafe { BorrowedFd::borrow_raw(raw) };
        if is_listener_at(fd, addr) {
            return rustix::net::sockopt::set_tcp_nodelay(fd, true).is_ok();
        }
    }
    false
}

fn is_listener_at(fd: impl AsFd, addr: SocketAddr) -> bool {
    let bound = rustix::net::getsockname(&fd)
        .ok()
        .and_then(|a| SocketAddr::try_from(a).ok());
    bound == Some(addr) && rustix::net::sockopt::socket_acceptconn(&fd).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsFd;

    #[test]
    fn handshake_address_reads_go_plugins_line() {
        let line = "1|6|tcp|127.0.0.1:40123|grpc|MIIBkTCCAT\n";
        assert_eq!(
            handshake_address(line),
            Some("127.0.0.1:40123".parse().unwrap())
        );
        assert_eq!(
            handshake_address("1|6|unix|/tmp/plugin.sock|grpc|X\n"),
            None
        );
        assert_eq!(handshake_address("not a handshake\n"), None);
        assert_eq!(handshake_address(""), None);
    }

    #[test]
    fn connections_accepted_after_the_listener_is_found_have_nagle_off() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // A connected socket on the same port is not mistaken for the listener.
        let _before = TcpStream::connect(addr).unwrap();
        let (accepted_before, _) = listener.accept().unwrap();
        assert!(!accepted_before.nodelay().unwrap());
        assert!(!is_listener_at(accepted_before.as_fd(), addr));

        assert!(set_nodelay_on_listener(addr));
        let _client = TcpStream::connect(addr).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        assert!(accepted.nodelay().unwrap());
    }

    #[test]
    fn no_listener_at_the_address_is_reported_not_invented() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        assert!(!set_nodelay_on_listener(addr));
    }
}
