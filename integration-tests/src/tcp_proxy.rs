//! A TCP proxy in front of a real server that a test can cut and restore: the way to take a
//! database away from a running service (and give it back) without touching the database
//! the other tests share.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Forwards every connection to `upstream` until [`TcpProxy::cut`]; then closes them all and
/// closes new ones at once, until [`TcpProxy::restore`].
pub struct TcpProxy {
    addr: SocketAddr,
    cut: Arc<AtomicBool>,
    cuts: watch::Sender<u64>,
    accept: JoinHandle<()>,
}

impl TcpProxy {
    /// Listens on a free loopback port.
    pub async fn start(upstream: SocketAddr) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("bind proxy")?;
        let addr = listener.local_addr()?;
        let cut = Arc::new(AtomicBool::new(false));
        let (cuts, _) = watch::channel(0u64);
        let accept = tokio::spawn(accept_loop(listener, upstream, cut.clone(), cuts.clone()));
        Ok(Self {
            addr,
            cut,
            cuts,
            accept,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes every open connection and refuses (accepts and closes) new ones.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.cuts.send_modify(|n| *n += 1);
    }

    /// Forwards new connections again.
    pub fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    upstream: SocketAddr,
    cut: Arc<AtomicBool>,
    cuts: watch::Sender<u64>,
) {
    while let Ok((client, _)) = listener.accept().await {
        if cut.load(Ordering::SeqCst) {
            drop(client);
            continue;
        }
        let mut cut_seen = cuts.subscribe();
        cut_seen.mark_unchanged();
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(upstream).await else {
                return;
            };
            let _ = (client.set_nodelay(true), server.set_nodelay(true));
            let (mut client, mut server) = (client, server);
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                _ = cut_seen.changed() => {}
            }
        });
    }
}

/// The parts of `scheme://credentials@host:port/path`.
fn split_url(url: &str) -> Result<(&str, &str, &str, &str)> {
    let (scheme, rest) = url.split_once("://").context("url without scheme")?;
    let (credentials, rest) = rest.rsplit_once('@').context("url without credentials")?;
    let (host_port, path) = rest.split_once('/').unwrap_or((rest, ""));
    Ok((scheme, credentials, host_port, path))
}

/// The server address a `mysql://user:pw@host:port/db` URL names.
pub fn url_address(url: &str) -> Result<SocketAddr> {
    let (_, _, host_port, _) = split_url(url)?;
    std::net::ToSocketAddrs::to_socket_addrs(host_port)
        .with_context(|| format!("resolve {host_port}"))?
        .next()
        .context("no address")
}

/// `url` with its `host:port` replaced by `addr`.
pub fn url_with_address(url: &str, addr: SocketAddr) -> Result<String> {
    let (scheme, credentials, _, path) = split_url(url)?;
    Ok(format!("{scheme}://{credentials}@{addr}/{path}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_the_host_and_keeps_the_rest() {
        let url = "mysql://u:p@w@127.0.0.1:3306/db_1?ssl-mode=disabled";
        let proxy: SocketAddr = "127.0.0.1:4000".parse().expect("addr");
        assert_eq!(
            url_with_address(url, proxy).expect("rewrite"),
            "mysql://u:p@w@127.0.0.1:4000/db_1?ssl-mode=disabled"
        );
        assert_eq!(
            url_address(url).expect("address"),
            "127.0.0.1:3306".parse::<SocketAddr>().expect("addr")
        );
    }
}
