//! The caller's request body on its way upstream, watched, so that an exchange that
//! fails because the caller's body was malformed (a bad chunk, a body cut short) is
//! answered as the caller's fault (400), not as the upstream's (502).

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use bytes::Bytes;
use http_body::{Body as _, Frame, SizeHint};

/// Whether the caller's body failed while it was being sent upstream.
#[derive(Clone, Default)]
pub struct Failed(Arc<AtomicBool>);

impl Failed {
    /// Whether it did.
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// `body`, marking `failed` when it yields an error.
struct Watched {
    body: Body,
    failed: Failed,
}

impl http_body::Body for Watched {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if let Poll::Ready(Some(Err(_))) = &polled {
            self.failed.0.store(true, Ordering::Relaxed);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The body to send upstream and the flag that says whether it failed. A body that is
/// already at its end (most `GET`s) is passed as it is: there is nothing to fail.
pub fn watch(body: Body) -> (Body, Failed) {
    let failed = Failed::default();
    if body.is_end_stream() {
        return (body, failed);
    }
    let body = Body::new(Watched {
        body,
        failed: failed.clone(),
    });
    (body, failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    /// One chunk, then an error (as hyper yields for a malformed chunked body).
    struct BadChunk(bool);

    impl http_body::Body for BadChunk {
        type Data = Bytes;
        type Error = std::io::Error;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
            let first = !self.0;
            self.0 = true;
            Poll::Ready(Some(if first {
                Ok(Frame::data(Bytes::from_static(b"a")))
            } else {
                Err(std::io::Error::other("invalid chunk size"))
            }))
        }
    }

    #[tokio::test]
    async fn a_failing_body_is_marked_and_a_good_one_is_not() {
        let (body, failed) = watch(Body::new(BadChunk(false)));
        assert!(body.collect().await.is_err());
        assert!(failed.get());
        let (body, failed) = watch(Body::from("fine"));
        assert_eq!(body.collect().await.unwrap().to_bytes(), "fine");
        assert!(!failed.get());
        let (_, failed) = watch(Body::empty());
        assert!(!failed.get());
    }
}
