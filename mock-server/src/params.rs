//! Request parameters from all four encodings real clients use.
//!
//! A request's parameters are the merge of its query string and its body,
//! whatever the body's encoding: `application/x-www-form-urlencoded` (the
//! official CaptchaAI SDK, 2captcha-python), `multipart/form-data` (image files
//! in `file` or `file_1`..`file_9`), or a JSON object (2captcha's JavaScript
//! client). Query parameters come first; a later duplicate never overrides an
//! earlier one, so `?json=1` in the URL wins over a body field.

use bytes::Bytes;

/// Values longer than this are journalled as `<N bytes>`.
pub(crate) const SUMMARY_MAX: usize = 200;

/// Keys longer than this are journalled cut, with a `…`.
pub(crate) const KEY_MAX: usize = 64;

/// Parameters journalled per request; a last one counts the rest (`<N more parameters>`).
pub(crate) const PARAMS_MAX: usize = 50;

/// An uploaded file from a multipart body.
#[derive(Clone, Debug)]
pub(crate) struct Upload {
    /// The form field name (`file`, `file_1`, ...).
    pub(crate) field: String,
    /// The client's file name, if any.
    pub(crate) filename: Option<String>,
    /// The file's bytes.
    pub(crate) data: Bytes,
}

/// Merged request parameters.
///
/// Every request's path parses these, so they are kept in two allocations
/// whatever their number: the decoded keys and values back to back in one
/// string, and their positions.
#[derive(Clone, Debug, Default)]
pub(crate) struct Params {
    buf: String,
    /// `(key start, key end = value start, value end)` into `buf`.
    spans: Vec<(u32, u32, u32)>,
    /// Files from a multipart body.
    pub(crate) uploads: Vec<Upload>,
}

/// Why a body could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum BodyError {
    /// A multipart body that does not parse.
    #[error("malformed multipart body")]
    Multipart,
    /// A JSON body that is not an object.
    #[error("malformed JSON body")]
    Json,
}

impl Params {
    /// Parameters from a query string alone.
    pub(crate) fn from_query(query: Option<&str>) -> Self {
        let mut p = Params::default();
        if let Some(q) = query {
            p.extend_urlencoded(q.as_bytes());
        }
        p
    }

    fn push(&mut self, k: &str, v: &str) {
        let a = self.buf.len();
        self.buf.push_str(k);
        let b = self.buf.len();
        self.buf.push_str(v);
        let c = self.buf.len();
        // Bodies are capped far below 4 GiB (`api::body`), so offsets fit.
        self.spans.push((a as u32, b as u32, c as u32));
    }

    fn pair(&self, (a, b, c): (u32, u32, u32)) -> (&str, &str) {
        (
            &self.buf[a as usize..b as usize],
            &self.buf[b as usize..c as usize],
        )
    }

    /// Adds the pairs of an urlencoded string.
    pub(crate) fn extend_urlencoded(&mut self, body: &[u8]) {
        // Exactly `form_urlencoded::parse`, with a fast path for what nearly
        // every request is (`key=...&action=get&id=74000000001&json=1`):
        // valid UTF-8 with nothing to decode, where decoding is the identity.
        if !body.iter().any(|&b| b == b'%' || b == b'+')
            && let Ok(s) = std::str::from_utf8(body)
        {
            self.buf.reserve(s.len());
            for piece in s.split('&').filter(|p| !p.is_empty()) {
                let (k, v) = piece.split_once('=').unwrap_or((piece, ""));
                self.push(k, v);
            }
            return;
        }
        for (k, v) in form_urlencoded::parse(body) {
            self.push(&k, &v);
        }
    }

    /// Adds the members of a JSON object: strings as they are, numbers and
    /// booleans as their text (`true` as `1`), an array of those joined by commas
    /// (`"ids": [1, 2]` is `ids=1,2`), anything else as JSON text.
    pub(crate) fn extend_json(&mut self, body: &[u8]) -> Result<(), BodyError> {
        use serde_json::Value;
        fn scalar(v: &Value) -> Option<String> {
            match v {
                Value::String(s) => Some(s.clone()),
                Value::Bool(b) => Some(if *b { "1" } else { "0" }.to_owned()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            }
        }
        let value: Value = serde_json::from_slice(body).map_err(|_| BodyError::Json)?;
        let Value::Object(map) = value else {
            return Err(BodyError::Json);
        };
        for (k, v) in map {
            let s = match &v {
                Value::Null => continue,
                Value::Array(items) => match items.iter().map(scalar).collect::<Option<Vec<_>>>() {
                    Some(items) => items.join(","),
                    None => v.to_string(),
                },
                other => scalar(other).unwrap_or_else(|| other.to_string()),
            };
            self.push(&k, &s);
        }
        Ok(())
    }

    /// Adds the fields and files of a multipart body.
    pub(crate) async fn extend_multipart(
        &mut self,
        boundary: &str,
        body: Bytes,
    ) -> Result<(), BodyError> {
        let stream = futures::stream::once(async move { Ok::<Bytes, std::io::Error>(body) });
        let mut mp = multer::Multipart::new(stream, boundary);
        loop {
            let field = match mp.next_field().await {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(_) => return Err(BodyError::Multipart),
            };
            let name = field.name().unwrap_or_default().to_owned();
            let filename = field.file_name().map(str::to_owned);
            let data = field.bytes().await.map_err(|_| BodyError::Multipart)?;
            if filename.is_some() || name.starts_with("file") {
                self.uploads.push(Upload {
                    field: name,
                    filename,
                    data,
                });
            } else {
                self.push(&name, &String::from_utf8_lossy(&data));
            }
        }
        Ok(())
    }

    /// Adds a body according to its content type.
    pub(crate) async fn extend_body(
        &mut self,
        content_type: Option<&str>,
        body: Bytes,
    ) -> Result<(), BodyError> {
        if body.is_empty() {
            return Ok(());
        }
        let ct = content_type.unwrap_or("").to_ascii_lowercase();
        if ct.starts_with("multipart/form-data") {
            let boundary = multer::parse_boundary(content_type.unwrap_or(""))
                .map_err(|_| BodyError::Multipart)?;
            self.extend_multipart(&boundary, body).await
        } else if ct.starts_with("application/json")
            || (ct.is_empty() && body.first() == Some(&b'{'))
        {
            self.extend_json(&body)
        } else {
            self.extend_urlencoded(&body);
            Ok(())
        }
    }

    /// The first value of a parameter.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        // Compare key bytes first; slice (with its boundary checks) only the match.
        let bytes = self.buf.as_bytes();
        self.spans
            .iter()
            .find(|(a, b, _)| &bytes[*a as usize..*b as usize] == name.as_bytes())
            .map(|&(_, b, c)| &self.buf[b as usize..c as usize])
    }

    /// The first non-empty value among several spellings of a parameter.
    pub(crate) fn get_any(&self, names: &[&str]) -> Option<&str> {
        names
            .iter()
            .find_map(|n| self.get(n).filter(|v| !v.trim().is_empty()))
    }

    /// A non-empty, trimmed value.
    pub(crate) fn non_empty(&self, name: &str) -> Option<&str> {
        self.get(name).map(str::trim).filter(|v| !v.is_empty())
    }

    /// A flag such as `json=1`, `enterprise=1` or `invisible=true`.
    pub(crate) fn flag(&self, name: &str) -> bool {
        matches!(
            self.get(name).map(str::trim),
            Some("1" | "true" | "True" | "TRUE" | "yes")
        )
    }

    /// All pairs in arrival order.
    pub(crate) fn pairs(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.spans.iter().map(|&span| self.pair(span))
    }

    /// Pairs for the journal: long values (images) are summarised.
    pub(crate) fn summary(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .pairs()
            .map(|(k, v)| {
                if v.len() > SUMMARY_MAX {
                    (k.to_owned(), format!("<{} bytes>", v.len()))
                } else {
                    (k.to_owned(), v.to_owned())
                }
            })
            .collect();
        for u in &self.uploads {
            out.push((u.field.clone(), format!("<file {} bytes>", u.data.len())));
        }
        out
    }

    /// What the journal keeps of these parameters: at most [`PARAMS_MAX`] of them (uploaded
    /// files as `<file N bytes>`), then one `…` parameter that counts the rest
    /// (`<N more parameters>`); keys cut at [`KEY_MAX`] bytes, values longer than
    /// [`SUMMARY_MAX`] as `<N bytes>`. Parameters that are short already (nearly every request)
    /// are kept as they are, without a copy.
    pub(crate) fn shortened(self) -> Params {
        let count = self.spans.len() + self.uploads.len();
        let short = count <= PARAMS_MAX
            && self.uploads.is_empty()
            && self
                .spans
                .iter()
                .all(|&(a, b, c)| b - a <= KEY_MAX as u32 && c - b <= SUMMARY_MAX as u32);
        if short {
            return self;
        }
        let mut out = Params::default();
        let uploads = self.uploads.iter().map(|u| {
            (
                u.field.as_str(),
                std::borrow::Cow::Owned(format!("<file {} bytes>", u.data.len())),
            )
        });
        let pairs = self
            .pairs()
            .map(|(k, v)| (k, std::borrow::Cow::Borrowed(v)))
            .chain(uploads);
        for (k, v) in pairs.take(PARAMS_MAX) {
            let key = if k.len() > KEY_MAX {
                let mut end = KEY_MAX;
                while !k.is_char_boundary(end) {
                    end -= 1;
                }
                std::borrow::Cow::Owned(format!("{}…", &k[..end]))
            } else {
                std::borrow::Cow::Borrowed(k)
            };
            if v.len() > SUMMARY_MAX {
                out.push(&key, &format!("<{} bytes>", v.len()));
            } else {
                out.push(&key, &v);
            }
        }
        if count > PARAMS_MAX {
            out.push("…", &format!("<{} more parameters>", count - PARAMS_MAX));
        }
        out.buf.shrink_to_fit();
        out.spans.shrink_to_fit();
        out
    }

    /// The heap these parameters hold, for the journal's byte bound.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.buf.capacity()
            + self.spans.capacity() * std::mem::size_of::<(u32, u32, u32)>()
            + self
                .uploads
                .iter()
                .map(|u| {
                    u.data.len()
                        + u.field.capacity()
                        + u.filename.as_ref().map_or(0, String::capacity)
                })
                .sum::<usize>()
    }
}

/// The parameters of a journalled request, from every encoding merged (query first),
/// shortened as they are journalled: at most 50 parameters (a last one, `…`, counts the rest:
/// `<N more parameters>`), keys cut at 64 bytes (with a `…`), values longer than 200 bytes as
/// `<N bytes>`, uploaded files as `<file N bytes>`. Short requests (nearly all) are moved in
/// as they are, without a copy. Serialises as `[[key, value], ...]`.
#[derive(Clone, Debug, Default)]
pub struct RequestParams(Params);

impl From<Params> for RequestParams {
    fn from(p: Params) -> Self {
        RequestParams(p.shortened())
    }
}

impl RequestParams {
    /// Every pair in arrival order, as journalled.
    pub fn pairs(&self) -> Vec<(String, String)> {
        self.0.summary()
    }

    /// The first value of a parameter, as journalled (a value longer than 200 bytes reads
    /// `<N bytes>`).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name)
    }

    /// The heap held, for the journal's byte bound.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.0.heap_bytes()
    }
}

impl serde::Serialize for RequestParams {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.pairs().serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The fast path decodes exactly as `form_urlencoded::parse`.
        #[test]
        fn urlencoded_matches_form_urlencoded(
            raw in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::sample::select(b"&=+%2aA0 ".to_vec()),
                    proptest::prelude::any::<u8>(),
                ],
                0..60,
            )
        ) {
            let mut p = Params::default();
            p.extend_urlencoded(&raw);
            let expected: Vec<(String, String)> = form_urlencoded::parse(&raw)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            let got: Vec<(String, String)> = p.pairs().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
            proptest::prop_assert_eq!(got, expected);
        }
    }

    #[test]
    fn summaries_agree() {
        let mut p = Params::from_query(Some("key=k&action=get&id=1&json=1"));
        p.extend_urlencoded(format!("body={}", "x".repeat(300)).as_bytes());
        let journal = RequestParams::from(p.clone());
        assert_eq!(p.summary(), journal.pairs());
        assert_eq!(p.summary()[4].1, "<300 bytes>");
        assert_eq!(
            serde_json::to_string(&journal).unwrap(),
            r#"[["key","k"],["action","get"],["id","1"],["json","1"],["body","<300 bytes>"]]"#
        );
    }

    #[tokio::test]
    async fn the_journal_keeps_a_shortened_copy() {
        let short = Params::from_query(Some("key=k&action=get&id=1"));
        let buf = short.buf.as_ptr();
        assert_eq!(
            short.shortened().buf.as_ptr(),
            buf,
            "short ones are moved, not copied"
        );

        let mut long = Params::from_query(Some("key=k"));
        long.extend_urlencoded(format!("{}=v&big={}", "é".repeat(40), "x".repeat(201)).as_bytes());
        for i in 0..60 {
            long.extend_urlencoded(format!("p{i}=1").as_bytes());
        }
        let body = "--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\r\nPNGDATA\r\n--XX--\r\n";
        long.extend_body(Some("multipart/form-data; boundary=XX"), Bytes::from(body))
            .await
            .unwrap();
        let kept = RequestParams::from(long).pairs();
        assert_eq!(kept.len(), PARAMS_MAX + 1);
        assert_eq!(
            kept[1].0,
            format!("{}…", "é".repeat(32)),
            "cut at a char boundary"
        );
        assert_eq!(kept[2], ("big".into(), "<201 bytes>".into()));
        assert_eq!(
            kept[PARAMS_MAX],
            ("…".into(), "<14 more parameters>".into())
        );

        let mut upload = Params::default();
        upload
            .extend_body(Some("multipart/form-data; boundary=XX"), Bytes::from(body))
            .await
            .unwrap();
        let kept = RequestParams::from(upload);
        assert_eq!(kept.pairs(), vec![("file".into(), "<file 7 bytes>".into())]);
        assert!(kept.heap_bytes() < 64, "the file's bytes are not kept");
    }

    #[tokio::test]
    async fn query_wins_and_bodies_merge() {
        let mut p = Params::from_query(Some("json=1&key=abc"));
        p.extend_body(
            Some("application/x-www-form-urlencoded"),
            Bytes::from_static(b"json=0&method=turnstile"),
        )
        .await
        .unwrap();
        assert_eq!(p.get("json"), Some("1"));
        assert_eq!(p.get("method"), Some("turnstile"));
    }

    #[tokio::test]
    async fn json_bodies_become_strings() {
        let mut p = Params::default();
        p.extend_body(
            Some("application/json"),
            Bytes::from_static(br#"{"json":1,"enterprise":true,"pageurl":"https://x","n":null}"#),
        )
        .await
        .unwrap();
        assert_eq!(p.get("json"), Some("1"));
        assert!(p.flag("enterprise"));
        assert_eq!(p.get("n"), None);
        let err = p
            .extend_body(Some("application/json"), Bytes::from_static(b"[1]"))
            .await;
        assert_eq!(err, Err(BodyError::Json));
    }

    #[tokio::test]
    async fn multipart_fields_and_files() {
        let body = "--XX\r\nContent-Disposition: form-data; name=\"method\"\r\n\r\npost\r\n--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\nPNGDATA\r\n--XX--\r\n";
        let mut p = Params::default();
        p.extend_body(Some("multipart/form-data; boundary=XX"), Bytes::from(body))
            .await
            .unwrap();
        assert_eq!(p.get("method"), Some("post"));
        assert_eq!(p.uploads.len(), 1);
        assert_eq!(p.uploads[0].filename.as_deref(), Some("a.png"));
        assert_eq!(&p.uploads[0].data[..], b"PNGDATA");
        let bad = p
            .extend_body(
                Some("multipart/form-data; boundary=XX"),
                Bytes::from_static(b"garbage"),
            )
            .await;
        assert_eq!(bad, Err(BodyError::Multipart));
    }
}
