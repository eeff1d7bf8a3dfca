//! Helpers shared by the mock's integration tests: a loopback HTTP client,
//! the four request encodings real clients use, small real images, the one
//! `res.php` call, a child-process guard for the binary ([`child`]) and the
//! pingback tests' mock and recorder ([`pingback`]).

pub(crate) mod child;
pub(crate) mod pingback;

use std::time::Duration;

use base64::Engine as _;

/// A reqwest client for loopback: no proxy (the machine may set one), bounded.
pub(crate) fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("building the test HTTP client")
}

/// How the parameters travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// `GET` with everything in the query string.
    Query,
    /// `POST` `application/x-www-form-urlencoded`.
    Form,
    /// `POST` `multipart/form-data`.
    Multipart,
    /// `POST` with a JSON object body.
    Json,
}

impl Encoding {
    /// All four, in the order snapshots list them.
    pub(crate) const ALL: [Encoding; 4] = [
        Encoding::Query,
        Encoding::Form,
        Encoding::Multipart,
        Encoding::Json,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Encoding::Query => "query",
            Encoding::Form => "form",
            Encoding::Multipart => "multipart",
            Encoding::Json => "json",
        }
    }
}

/// A file part of a multipart body.
#[derive(Clone, Debug)]
pub(crate) struct FilePart {
    pub(crate) field: String,
    pub(crate) filename: String,
    pub(crate) content_type: String,
    pub(crate) data: Vec<u8>,
}

/// What came back, with the parts of the response the protocol fixes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) content_type: String,
    pub(crate) acao: Option<String>,
    pub(crate) body: String,
}

pub(crate) const BOUNDARY: &str = "----captchaai-mock-test-boundary-7MA4YWxkTrZu0gW";

/// Builds a multipart body by hand (reqwest's `multipart` feature is off, and
/// the property test needs to produce broken ones too).
pub(crate) fn multipart_body(params: &[(String, String)], files: &[FilePart]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in params {
        out.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        out.extend_from_slice(
            format!("Content-Disposition: form-data; name=\"{k}\"\r\n\r\n").as_bytes(),
        );
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    for f in files {
        out.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        out.extend_from_slice(
            format!(
                "Content-Disposition: form-data; name=\"{}\"; filename=\"{}\"\r\nContent-Type: {}\r\n\r\n",
                f.field, f.filename, f.content_type
            )
            .as_bytes(),
        );
        out.extend_from_slice(&f.data);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    out
}

/// Sends `params` (and `files`, multipart only) to `base/endpoint` in one encoding.
pub(crate) fn request(
    http: &reqwest::Client,
    url: &str,
    encoding: Encoding,
    params: &[(String, String)],
    files: &[FilePart],
) -> reqwest::RequestBuilder {
    assert!(
        files.is_empty() || encoding == Encoding::Multipart,
        "files only travel in multipart bodies"
    );
    match encoding {
        Encoding::Query => http.get(url).query(params),
        Encoding::Form => http.post(url).form(params),
        Encoding::Multipart => http
            .post(url)
            .header(
                reqwest::header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(multipart_body(params, files)),
        Encoding::Json => {
            let map: serde_json::Map<String, serde_json::Value> = params
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect();
            http.post(url).json(&serde_json::Value::Object(map))
        }
    }
}

/// Sends a request and reads the answer.
pub(crate) async fn send(req: reqwest::RequestBuilder) -> Answer {
    let resp = req.send().await.expect("the mock answers");
    let header = |name: reqwest::header::HeaderName| {
        resp.headers()
            .get(name)
            .map(|v| v.to_str().unwrap_or("<non-ascii>").to_owned())
    };
    let content_type = header(reqwest::header::CONTENT_TYPE).unwrap_or_default();
    let acao = header(reqwest::header::ACCESS_CONTROL_ALLOW_ORIGIN);
    let status = resp.status().as_u16();
    let body = resp.text().await.expect("a text body");
    Answer {
        status,
        content_type,
        acao,
        body,
    }
}

/// Every failure code the services answer with (CaptchaAI's and 2captcha's documented
/// codes, and `CAPCHA_NOT_READY`), written down here apart from the mock's own list: the
/// tests check the mock against the protocol, not against itself.
pub(crate) const FAILURE_CODES: [&str; 32] = [
    "ERROR_WRONG_USER_KEY",
    "ERROR_KEY_DOES_NOT_EXIST",
    "ERROR_ZERO_BALANCE",
    "ERROR_NO_SLOT_AVAILABLE",
    "ERROR_PAGEURL",
    "ERROR_GOOGLEKEY",
    "ERROR_WRONG_GOOGLEKEY",
    "ERROR_BAD_TOKEN_OR_PAGEURL",
    "ERROR_BAD_PARAMETERS",
    "ERROR_ZERO_CAPTCHA_FILESIZE",
    "ERROR_TOO_BIG_CAPTCHA_FILESIZE",
    "ERROR_IMAGE_DIMENSIONS_TOO_LARGE",
    "ERROR_WRONG_FILE_EXTENSION",
    "ERROR_IMAGE_TYPE_NOT_SUPPORTED",
    "ERROR_UPLOAD",
    "ERROR_PROXY_FORMAT",
    "ERROR_BAD_PROXY",
    "ERROR_IP_ADDRES",
    "ERROR_IP_NOT_ALLOWED",
    "IP_BANNED",
    "MAX_USER_TURN",
    "ERROR_SERVER_ERROR",
    "ERROR_INTERNAL_SERVER_ERROR",
    "CAPCHA_NOT_READY",
    "ERROR_CAPTCHA_UNSOLVABLE",
    "ERROR_WRONG_ID_FORMAT",
    "ERROR_WRONG_CAPTCHA_ID",
    "ERROR_PROXY_CONNECTION_FAILED",
    "ERROR_EMPTY_ACTION",
    "ERROR_DUPLICATE_REPORT",
    "ERROR_REPORT_NOT_RECORDED",
    "ERROR: 1005",
];

/// The one status code that is no failure (`status: 1`).
pub(crate) const REPORT_RECORDED: &str = "OK_REPORT_RECORDED";

/// A failure code of the protocol.
pub(crate) fn is_failure_code(s: &str) -> bool {
    FAILURE_CODES.contains(&s)
}

/// Any code of the protocol, failure or not.
pub(crate) fn is_code(s: &str) -> bool {
    is_failure_code(s) || s == REPORT_RECORDED
}

/// `GET {base}/res.php?key=<key>&<params>`: the answer's body.
pub(crate) async fn res_php(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    params: &[(&str, &str)],
) -> String {
    let mut query = vec![("key", key)];
    query.extend_from_slice(params);
    http.get(format!("{base}/res.php"))
        .query(&query)
        .send()
        .await
        .expect("the mock answers")
        .text()
        .await
        .expect("a text body")
}

/// Owned `(name, value)` pairs from borrowed ones.
pub(crate) fn pairs(params: &[(&str, &str)]) -> Vec<(String, String)> {
    params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Standard base64.
pub(crate) fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + u32::from(x)) % 65_521;
        b = (b + a) % 65_521;
    }
    (b << 16) | a
}

/// A real, decodable RGB PNG of `width` x `height` with noisy pixels from
/// `seed` (zlib "stored" blocks, so no compressor is needed). Always well
/// over the service's 100-byte minimum for the sizes tests use.
pub(crate) fn png(width: u32, height: u32, seed: u32) -> Vec<u8> {
    let mut raw = Vec::new();
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    for _ in 0..height {
        raw.extend([0u8]); // filter byte: none
        for _ in 0..width * 3 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            raw.push(x as u8);
        }
    }
    let mut z = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        z.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        z.extend_from_slice(&len.to_le_bytes());
        z.extend_from_slice(&(!len).to_le_bytes());
        z.extend_from_slice(block);
    }
    z.extend_from_slice(&adler32(&raw).to_be_bytes());

    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8], data: &[u8]| {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
    };
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(b"IHDR", &ihdr);
    chunk(b"IDAT", &z);
    chunk(b"IEND", &[]);
    out
}

/// A PNG header claiming `width` x `height`, padded to `len` bytes: enough for
/// the dimension check without building a huge image.
pub(crate) fn png_header(width: u32, height: u32, len: usize) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    v.extend_from_slice(&width.to_be_bytes());
    v.extend_from_slice(&height.to_be_bytes());
    v.extend_from_slice(&[8, 2, 0, 0, 0]);
    v.resize(len, 0);
    v
}

#[test]
fn png_is_well_formed() {
    let p = png(4, 3, 1);
    assert!(p.starts_with(b"\x89PNG\r\n\x1a\n"));
    // CRC of the standard empty IEND chunk.
    assert_eq!(crc32(b"IEND"), 0xAE42_6082);
    assert_eq!(&p[p.len() - 4..], &0xAE42_6082u32.to_be_bytes());
    assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
}
