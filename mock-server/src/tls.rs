//! TLS for clients that insist on `https://` (2captcha-python builds
//! `'https://' + server`): a local CA and a leaf certificate, generated at
//! start-up, valid for `localhost`, `127.0.0.1` and `::1`. The CA is written
//! to a file whose path is printed, so a client can trust it
//! (`SSL_CERT_FILE`, `REQUESTS_CA_BUNDLE`, `CURL_CA_BUNDLE`). The leaf's private key
//! stays in memory.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType};

/// A generated CA and leaf, as PEM.
#[derive(Debug, Clone)]
pub(crate) struct Generated {
    /// The CA certificate (trust this).
    pub(crate) ca_pem: String,
    /// The leaf certificate chain (leaf then CA).
    pub(crate) chain_pem: String,
    /// The leaf's private key.
    pub(crate) key_pem: String,
}

/// Errors while generating or writing certificates.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TlsError {
    /// Certificate generation failed.
    #[error("generating certificates: {0}")]
    Rcgen(#[from] rcgen::Error),
    /// Writing the CA file failed.
    #[error("writing {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// Generates a CA and a leaf signed by it.
pub(crate) fn generate() -> Result<Generated, TlsError> {
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::default();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "captchaai-mock local CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = rcgen::Issuer::new(ca_params, ca_key);

    let leaf_key = KeyPair::generate()?;
    let mut leaf = CertificateParams::new(vec!["localhost".to_owned()])?;
    leaf.subject_alt_names
        .push(SanType::IpAddress([127, 0, 0, 1].into()));
    leaf.subject_alt_names
        .push(SanType::IpAddress(std::net::Ipv6Addr::LOCALHOST.into()));
    leaf.distinguished_name
        .push(DnType::CommonName, "captchaai-mock");
    leaf.use_authority_key_identifier_extension = true;
    leaf.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    leaf.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer)?;
    Ok(Generated {
        ca_pem: ca_cert.pem(),
        chain_pem: format!("{}{}", leaf_cert.pem(), ca_cert.pem()),
        key_pem: leaf_key.serialize_pem(),
    })
}

/// Writes the CA certificate to `dir/captchaai-mock-ca.pem` and returns the path.
///
/// The file is written under a fresh random name in `dir` and then renamed into place: a
/// link planted at the final name is replaced, never followed, and a reader never sees half a
/// certificate.
pub(crate) fn write_ca(generated: &Generated, dir: &Path) -> Result<PathBuf, TlsError> {
    use std::io::Write as _;
    let path = dir.join("captchaai-mock-ca.pem");
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| TlsError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut file = tempfile::Builder::new()
        .prefix(".captchaai-mock-ca-")
        .tempfile_in(dir)
        .map_err(io(dir))?;
    file.write_all(generated.ca_pem.as_bytes())
        .map_err(io(file.path()))?;
    file.persist(&path).map_err(|e| TlsError::Io {
        path: path.clone(),
        source: e.error,
    })?;
    Ok(path)
}
