//! [`Image`]: an image kept base64-encoded as the service wants it, with its MIME type
//! sniffed from the header.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use crate::error::Error;

/// An image, kept base64-encoded as the service wants it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Image {
    base64: String,
    mime: &'static str,
}

impl Image {
    /// Encodes raw image bytes.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Image {
            base64: B64.encode(bytes),
            mime: sniff_mime(bytes),
        }
    }

    /// Takes base64 text (optionally as a `data:...;base64,` URI) and checks that it decodes.
    pub fn from_base64(text: impl AsRef<str>) -> Result<Self, Error> {
        let text = text.as_ref().trim();
        let payload = match text.strip_prefix("data:") {
            Some(rest) => rest
                .split_once(',')
                .map(|(_, p)| p)
                .ok_or_else(|| Error::bad_input("data uri without a comma"))?,
            None => text,
        };
        let bytes = B64
            .decode(payload)
            .map_err(|e| Error::bad_input("image is not valid base64").with_source(e))?;
        Ok(Image {
            base64: payload.to_owned(),
            mime: sniff_mime(&bytes),
        })
    }

    /// The base64 text sent as `body`.
    pub fn base64(&self) -> &str {
        &self.base64
    }

    /// The MIME type guessed from the image header (PNG when unknown).
    pub fn mime(&self) -> &'static str {
        self.mime
    }

    pub(super) fn data_uri(&self) -> String {
        format!("data:{};base64,{}", self.mime, self.base64)
    }
}

impl fmt::Debug for Image {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Image")
            .field("mime", &self.mime)
            .field("base64_len", &self.base64.len())
            .finish()
    }
}

fn sniff_mime(bytes: &[u8]) -> &'static str {
    if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        "image/gif"
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        "image/jpeg"
    } else {
        "image/png"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_decode_and_sniff() {
        assert!(Image::from_base64("not base64!").is_err());
        let img = Image::from_base64("data:image/png;base64,R0lGODlh").unwrap();
        assert_eq!(img.base64(), "R0lGODlh");
        assert_eq!(img.mime(), "image/gif");
        let jpg = Image::from_bytes(&[0xFF, 0xD8, 0xFF, 0xE0]);
        assert_eq!(jpg.mime(), "image/jpeg");
    }
}
