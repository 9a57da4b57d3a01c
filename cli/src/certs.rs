//! `volley certs init DIR --host H…`: the certificates of a TLS cluster, made with rcgen — a
//! CA (`ca.crt`, `ca.key`), the controller's certificate for the given hosts
//! (`controller.crt`/`.key`: server use, and client use for dialing the other controllers of a
//! Raft group, docs/security.md#the-raft-port), an agent's client certificate named by `--agent-name`
//! (`agent.crt`/`.key`; under mTLS that name is the agent's identity) and a client certificate
//! for the CLI (`client.crt`/`.key`). Keys are written with mode 0600; existing files are kept
//! unless `--force`. See docs/security.md#tls.

use std::io::Write;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use volley_common::exit::code;

#[derive(clap::Subcommand)]
pub enum CertsCommand {
    /// Write a new CA and the controller's, an agent's and a client's certificates into DIR.
    Init(InitArgs),
}

#[derive(clap::Args)]
pub struct InitArgs {
    /// The folder to write into (created if missing, mode 0700).
    pub dir: PathBuf,
    /// A host name or IP address clients use to reach the controller (repeatable; at least
    /// one): the controller certificate's subject alternative names.
    #[arg(long = "host", value_name = "HOST", required = true)]
    pub hosts: Vec<String>,
    /// The agent's name in agent.crt: under mTLS an agent registers with its certificate's name.
    #[arg(long, default_value = "agent-1")]
    pub agent_name: String,
    /// How long the controller, agent and client certificates are valid, in days (the CA: ten
    /// times as long).
    #[arg(long, default_value_t = 365)]
    pub days: u32,
    /// Overwrite certificates and keys already in DIR.
    #[arg(long)]
    pub force: bool,
}

pub fn certs(c: CertsCommand) -> i32 {
    match c {
        CertsCommand::Init(a) => match init(&a) {
            Ok(written) => {
                for f in written {
                    println!("wrote {}", f.display());
                }
                0
            }
            Err(e) => {
                crate::cluster::log_error(&e);
                code::INVALID_CONFIG
            }
        },
    }
}

/// The files `init` writes, in order.
const FILES: [&str; 8] = [
    "ca.crt",
    "ca.key",
    "controller.crt",
    "controller.key",
    "agent.crt",
    "agent.key",
    "client.crt",
    "client.key",
];

fn init(a: &InitArgs) -> Result<Vec<PathBuf>, String> {
    if a.days == 0 {
        return Err("invalid --days 0: certificates must be valid at least one day".into());
    }
    volley_common::names::check_agent_name(&a.agent_name)
        .map_err(|e| format!("invalid --agent-name: {e}"))?;
    for h in &a.hosts {
        if h.is_empty() || h.contains(['/', ':', ' ']) && h.parse::<std::net::IpAddr>().is_err() {
            return Err(format!(
                "invalid --host {h:?}: give a host name (controller.example) or an IP address, without scheme or port"
            ));
        }
    }
    if !a.force {
        let existing: Vec<String> = FILES
            .iter()
            .filter(|f| a.dir.join(f).exists())
            .map(|f| f.to_string())
            .collect();
        if !existing.is_empty() {
            return Err(format!(
                "{} already holds {}: refusing to overwrite them (pass --force to replace them; agents and clients then need the new files)",
                a.dir.display(),
                existing.join(", ")
            ));
        }
    }
    create_dir(&a.dir)?;
    let gen =
        |what: &str| KeyPair::generate().map_err(|e| format!("cannot make the {what} key: {e}"));
    let now = time::OffsetDateTime::now_utc();
    let leaf_until = now + time::Duration::days(i64::from(a.days));
    let ca_until = now + time::Duration::days(i64::from(a.days) * 10);
    let before = now - time::Duration::hours(1);

    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
    ca.distinguished_name
        .push(DnType::CommonName, "Volley cluster CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca.not_before = before;
    ca.not_after = ca_until;
    let ca_key = gen("CA")?;
    let ca_cert = ca
        .self_signed(&ca_key)
        .map_err(|e| format!("cannot make the CA certificate: {e}"))?;
    let issuer = Issuer::from_params(&ca, &ca_key);

    let leaf = |what: &str,
                cn: &str,
                sans: Vec<String>,
                usages: Vec<ExtendedKeyUsagePurpose>|
     -> Result<(String, String), String> {
        let mut p = CertificateParams::new(sans)
            .map_err(|e| format!("cannot make the {what} certificate: {e}"))?;
        p.distinguished_name.push(DnType::CommonName, cn);
        p.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        p.extended_key_usages = usages;
        p.use_authority_key_identifier_extension = true;
        p.not_before = before;
        p.not_after = leaf_until;
        let key = gen(what)?;
        let cert = p
            .signed_by(&key, &issuer)
            .map_err(|e| format!("cannot make the {what} certificate: {e}"))?;
        Ok((cert.pem(), key.serialize_pem()))
    };
    let controller = leaf(
        "controller",
        &a.hosts[0],
        a.hosts.clone(),
        // Client use too: on the Raft port a controller dials its peers with it.
        vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ],
    )?;
    let agent = leaf(
        "agent",
        &a.agent_name,
        vec![a.agent_name.clone()],
        vec![ExtendedKeyUsagePurpose::ClientAuth],
    )?;
    let client = leaf(
        "client",
        "volley-client",
        Vec::new(),
        vec![ExtendedKeyUsagePurpose::ClientAuth],
    )?;
    let contents = [
        ca_cert.pem(),
        ca_key.serialize_pem(),
        controller.0,
        controller.1,
        agent.0,
        agent.1,
        client.0,
        client.1,
    ];
    let mut written = Vec::new();
    for (name, text) in FILES.iter().zip(contents) {
        let path = a.dir.join(name);
        let mode = if name.ends_with(".key") { 0o600 } else { 0o644 };
        write(&path, text.as_bytes(), mode)?;
        written.push(path);
    }
    Ok(written)
}

fn create_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))
}

/// Writes `bytes` to `path` with `mode` (also when the file existed, with another mode).
fn write(path: &Path, bytes: &[u8], mode: u32) -> Result<(), String> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let fail = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(fail)?;
    f.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(fail)?;
    f.write_all(bytes).map_err(fail)?;
    f.sync_all().map_err(fail)
}
