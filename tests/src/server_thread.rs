//! A test server's own thread and tokio runtime, stopped when its handle is dropped: what the
//! gRPC and WebSocket test servers (`grpc_server.rs`, `ws_server.rs`) run on.

use std::future::Future;

/// A server running on its own thread; dropping it stops the server.
pub struct ServerThread {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl ServerThread {
    /// Runs `serve(listener, stopped)` on a new thread with a current-thread runtime. `stopped`
    /// resolves when the handle is dropped; the server should end then.
    pub fn spawn<F, Fut>(listener: std::net::TcpListener, serve: F) -> ServerThread
    where
        F: FnOnce(tokio::net::TcpListener, tokio::sync::oneshot::Receiver<()>) -> Fut
            + Send
            + 'static,
        Fut: Future<Output = ()>,
    {
        listener.set_nonblocking(true).expect("nonblocking");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                serve(listener, stopped).await;
            });
        });
        ServerThread { stop: Some(stop) }
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}
