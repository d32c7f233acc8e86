//! HTTPS on the school LAN: the node's listener with a configured certificate and key (rustls, ring),
//! and the plain-HTTP listener's only answer then, a redirect to HTTPS.
//!
//! Handshakes run in their own tasks, at most [`MAX_HANDSHAKES_IN_FLIGHT`] at a time and each for at
//! most [`HANDSHAKE_TIMEOUT`], so a slow or silent client never holds up the others; axum serves the
//! finished connections through [`TlsListener`].

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::uri::Authority;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// TLS handshakes under way at once; more connections wait in the kernel's accept queue.
pub const MAX_HANDSHAKES_IN_FLIGHT: usize = 256;

/// How long a client may take to finish its handshake before the connection is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The server configuration from a PEM certificate chain and a PEM private key (PKCS#8, PKCS#1 or
/// SEC1). HTTP/1.1 only, as the node serves.
pub fn server_config(
    certificate_file: &Path,
    private_key_file: &Path,
) -> Result<Arc<rustls::ServerConfig>, String> {
    let certificates: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(certificate_file)
            .and_then(|certificates| certificates.collect::<Result<_, _>>())
            .map_err(|error| {
                format!(
                    "cannot read the certificate {}: {error}",
                    certificate_file.display()
                )
            })?;
    if certificates.is_empty() {
        return Err(format!(
            "the certificate file {} holds no certificate",
            certificate_file.display()
        ));
    }
    let private_key = PrivateKeyDer::from_pem_file(private_key_file).map_err(|error| {
        format!(
            "cannot read the private key {}: {error}",
            private_key_file.display()
        )
    })?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|error| error.to_string())?
    .with_no_client_auth()
    .with_single_cert(certificates, private_key)
    .map_err(|error| format!("the certificate and key do not make a TLS identity: {error}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// TLS connections whose handshake has finished, for `axum::serve`.
#[derive(Debug)]
pub struct TlsListener {
    finished: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local_address: SocketAddr,
}

impl TlsListener {
    /// Accepts on `tcp` and runs handshakes with `config` until `shutdown` turns true.
    pub fn new(
        tcp: TcpListener,
        config: Arc<rustls::ServerConfig>,
        mut shutdown: watch::Receiver<bool>,
    ) -> io::Result<Self> {
        let local_address = tcp.local_addr()?;
        let (sender, finished) = mpsc::channel(MAX_HANDSHAKES_IN_FLIGHT);
        let acceptor = TlsAcceptor::from(config);
        let in_flight = Arc::new(Semaphore::new(MAX_HANDSHAKES_IN_FLIGHT));
        tokio::spawn(async move {
            loop {
                let Ok(permit) = in_flight.clone().acquire_owned().await else {
                    return;
                };
                let (stream, peer) = tokio::select! {
                    accepted = tcp.accept() => match accepted {
                        Ok(accepted) => accepted,
                        Err(error) => {
                            // Out of file descriptors and the like: pause rather than spin.
                            tracing::warn!(%error, "accepting an HTTPS connection failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                    () = async {
                        // Only the signal matters; the guard it returns must not live on.
                        let _ = shutdown.wait_for(|stop| *stop).await;
                    } => return,
                };
                let acceptor = acceptor.clone();
                let sender = sender.clone();
                tokio::spawn(async move {
                    let _permit = permit;
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(connection)) => {
                            let _ = sender.send((connection, peer)).await;
                        }
                        Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(Self {
            finished,
            local_address,
        })
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, TlsListener>>
    for crate::auth::PeerAddress
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, TlsListener>) -> Self {
        crate::auth::PeerAddress(*stream.remote_addr())
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.finished.recv().await {
            Some(connection) => connection,
            // The acceptor stopped (shutdown): nothing more will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local_address)
    }
}

/// The plain-HTTP listener's router when HTTPS is on: every request is sent, with its path and
/// query, to the same host on `https_port`.
pub fn redirect_to_https(https_port: u16) -> Router {
    Router::new().fallback(move |request: Request| async move {
        redirect_target(&request, https_port)
            .map(|target| Redirect::permanent(&target).into_response())
            .unwrap_or_else(|| {
                (StatusCode::BAD_REQUEST, "the request names no valid host").into_response()
            })
    })
}

fn redirect_target(request: &Request, https_port: u16) -> Option<String> {
    let host = request
        .headers()
        .get(header::HOST)?
        .to_str()
        .ok()?
        .parse::<Authority>()
        .ok()?;
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |path| path.as_str());
    let port = if https_port == 443 {
        String::new()
    } else {
        format!(":{https_port}")
    };
    Some(format!("https://{}{port}{path}", host.host()))
}
