//! A TCP proxy in front of PostgreSQL, to take a broker's database away from it: refuse
//! new connections, cut every connection, or freeze one (its bytes stop, its socket stays
//! open: a half-open connection, as a dead network leaves it).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

struct Relay {
    abort: tokio::task::AbortHandle,
    freeze: watch::Sender<bool>,
}

/// Connections by the local port of their server side (PostgreSQL's `client_port`).
type Relays = Arc<Mutex<HashMap<u16, Relay>>>;

pub struct Proxy {
    pub addr: SocketAddr,
    open: Arc<AtomicBool>,
    relays: Relays,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Proxies to `to`.
    pub async fn start(to: SocketAddr) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let open = Arc::new(AtomicBool::new(true));
        let relays: Relays = Default::default();
        let (o, r) = (open.clone(), relays.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if !o.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(server) = tokio::net::TcpStream::connect(to).await else {
                    continue;
                };
                let port = server.local_addr().unwrap().port();
                let (freeze, frozen) = watch::channel(false);
                let relay = tokio::spawn(relay(client, server, frozen));
                r.lock().unwrap().insert(
                    port,
                    Relay {
                        abort: relay.abort_handle(),
                        freeze,
                    },
                );
            }
        });
        Proxy {
            addr,
            open,
            relays,
            task,
        }
    }

    /// New connections are refused (accepted and closed); open ones carry on.
    pub fn refuse_new(&self) {
        self.open.store(false, Ordering::SeqCst);
    }

    /// Every connection closed, new ones refused.
    pub fn cut(&self) {
        self.refuse_new();
        for (_, r) in self.relays.lock().unwrap().drain() {
            r.abort.abort();
        }
    }

    /// The connection whose server side is `port` stops carrying bytes, its sockets open.
    pub fn freeze(&self, port: u16) -> bool {
        match self.relays.lock().unwrap().get(&port) {
            Some(r) => r.freeze.send(true).is_ok(),
            None => false,
        }
    }

    /// New connections are accepted again.
    pub fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

async fn relay(
    mut client: tokio::net::TcpStream,
    mut server: tokio::net::TcpStream,
    mut frozen: watch::Receiver<bool>,
) {
    let froze = tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => false,
        f = frozen.wait_for(|f| *f) => f.is_ok(),
    };
    if froze {
        // Half-open: nothing passes, nothing is closed.
        std::future::pending::<()>().await;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.task.abort();
    }
}
