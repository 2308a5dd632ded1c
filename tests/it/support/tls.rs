//! Test certificates, made fresh for each test with rcgen: a CA, a broker and a client.
//!
//! The TLS scenarios need a private PKI the way a plant has one: a CA that signed the broker's
//! certificate (valid for `localhost` and `127.0.0.1`, as the daemon connects by address) and
//! the gateway's client certificate, plus an unrelated CA to show what a wrong `mqtt.ca_file`
//! does. Everything is written as PEM files into the test's directory; nothing is checked in.

use std::path::{Path, PathBuf};

use anyhow::Result;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// PEM files of one test PKI.
pub struct TestPki {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// A CA that signed nothing here: trusting it must fail the handshake.
    pub other_ca: PathBuf,
}

impl TestPki {
    /// Generates the CA, broker and client certificates under `dir/pki/`.
    pub fn generate(dir: &Path) -> Result<TestPki> {
        let dir = dir.join("pki");
        std::fs::create_dir_all(&dir)?;
        let write = |name: &str, pem: String| -> Result<PathBuf> {
            let path = dir.join(name);
            std::fs::write(&path, pem)?;
            Ok(path)
        };
        let (ca_params, ca_key) = ca("linegate test CA")?;
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate()?;
        let mut server = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])?;
        server
            .distinguished_name
            .push(DnType::CommonName, "test broker");
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = server.signed_by(&server_key, &issuer)?;

        let client_key = KeyPair::generate()?;
        let mut client = CertificateParams::new(Vec::<String>::new())?;
        client
            .distinguished_name
            .push(DnType::CommonName, "linegate-test");
        client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client_cert = client.signed_by(&client_key, &issuer)?;

        let (other_params, other_key) = ca("some other CA")?;
        let other = other_params.self_signed(&other_key)?;

        Ok(TestPki {
            ca: write("ca.pem", ca_cert.pem())?,
            server_cert: write("server.pem", server_cert.pem())?,
            server_key: write("server.key", server_key.serialize_pem())?,
            client_cert: write("client.pem", client_cert.pem())?,
            client_key: write("client.key", client_key.serialize_pem())?,
            other_ca: write("other-ca.pem", other.pem())?,
        })
    }
}

fn ca(name: &str) -> Result<(CertificateParams, KeyPair)> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok((params, key))
}
