//! Reading a request body within a limit, without ever holding more than the limit.
//!
//! | endpoint | limit | beyond it |
//! |---|---|---|
//! | `in.php`, `solve.php` | 16 × `images.max-bytes` (16 MiB by default), at least 1 MiB: nine images of a BLS grid, base64 and form-encoded, fit | `ERROR_TOO_BIG_CAPTCHA_FILESIZE` |
//! | `res.php` | 1 MiB (a bulk `get` of some 80 000 ids) | `ERROR_BAD_PARAMETERS` |
//!
//! A body announced longer than the limit (`Content-Length`) is never buffered; one that
//! grows past it while it arrives is dropped at that point. Either way the rest is read and
//! discarded (so the client gets its answer rather than a reset), up to [`DRAIN_MAX`] bytes in
//! all; past that the mock stops reading, answers, and the connection closes. Memory per
//! request in flight is therefore at most the limit (plus the parameters parsed from a body
//! within it), whatever the client sends.

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use futures::StreamExt as _;

use crate::config::ImageConfig;

/// The `res.php` limit: there is nothing to upload.
pub(crate) const RESULT_MAX_BODY: usize = 1024 * 1024;

/// Bytes read and discarded after a body passed its limit, so that the client reads its
/// answer; past them the connection is closed instead.
pub(crate) const DRAIN_MAX: u64 = 64 * 1024 * 1024;

/// The `in.php` and `solve.php` limit for these image limits.
pub(crate) fn submit_limit(images: &ImageConfig) -> usize {
    images.max_bytes.saturating_mul(16).max(RESULT_MAX_BODY)
}

/// A body that was not kept: longer than the limit, or broken off by the client.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Unread;

/// The body, if it fits in `limit` bytes (`declared` is its `Content-Length`).
pub(crate) async fn read(body: Body, declared: Option<u64>, limit: usize) -> Result<Bytes, Unread> {
    let mut keeping = declared.is_none_or(|n| n <= limit as u64);
    if declared.is_some_and(|n| n > DRAIN_MAX) {
        // Not worth draining: answer now; the connection closes after the answer.
        return Err(Unread);
    }
    let mut kept = BytesMut::with_capacity(declared.map_or(0, |n| n as usize).min(limit));
    let mut seen: u64 = 0;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            return Err(Unread);
        };
        seen += chunk.len() as u64;
        if keeping {
            if kept.len() + chunk.len() > limit {
                keeping = false;
                kept = BytesMut::new();
            } else if kept.is_empty() && declared.is_some_and(|n| n == chunk.len() as u64) {
                // The whole body in one chunk: no copy.
                return Ok(chunk);
            } else {
                kept.extend_from_slice(&chunk);
            }
        }
        if !keeping && seen > DRAIN_MAX {
            break;
        }
    }
    if keeping {
        Ok(kept.freeze())
    } else {
        Err(Unread)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunked(chunks: Vec<&'static [u8]>) -> Body {
        let stream = futures::stream::iter(
            chunks
                .into_iter()
                .map(|c| Ok::<_, std::io::Error>(Bytes::from_static(c))),
        );
        Body::from_stream(stream)
    }

    #[tokio::test]
    async fn within_the_limit_whole_beyond_it_nothing() {
        assert_eq!(
            read(chunked(vec![b"ab", b"cd"]), None, 4).await,
            Ok(Bytes::from_static(b"abcd"))
        );
        assert_eq!(
            read(chunked(vec![b"ab", b"cde"]), None, 4).await,
            Err(Unread)
        );
        assert_eq!(
            read(Body::from("abcd"), Some(4), 4).await,
            Ok(Bytes::from_static(b"abcd"))
        );
        assert_eq!(read(Body::from("abcde"), Some(5), 4).await, Err(Unread));
        assert_eq!(
            read(Body::empty(), Some(DRAIN_MAX + 1), 4).await,
            Err(Unread)
        );
        assert_eq!(read(Body::empty(), None, 4).await, Ok(Bytes::new()));
    }

    #[test]
    fn limits_follow_the_image_limit() {
        assert_eq!(submit_limit(&ImageConfig::default()), 16 * 1024 * 1024);
        let small = ImageConfig {
            max_bytes: 4096,
            ..ImageConfig::default()
        };
        assert_eq!(submit_limit(&small), RESULT_MAX_BODY);
    }
}
